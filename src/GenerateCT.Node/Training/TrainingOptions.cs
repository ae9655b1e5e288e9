using GenerateCT.Hosting;

namespace GenerateCT.Node.Training;

/// <summary>
/// Section "Node:Training": limits of local fine-tuning jobs. They start from the bundle of
/// Node:Generation:Bundle and run on Node:Generation:Device.
/// </summary>
public sealed class TrainingOptions
{
    public const string Section = NodeOptions.Section + ":Training";

    /// <summary>Most optimizer steps one job may ask for.</summary>
    public int MaxSteps { get; set; } = 100_000;

    /// <summary>Largest batch one job may ask for.</summary>
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>Steps between checkpoints when the request does not say.</summary>
    public int CheckpointEvery { get; set; } = 100;

    public void Validate()
    {
        if (MaxSteps < 1)
        {
            throw new ConfigurationException($"{Section}:MaxSteps", $"{MaxSteps} must be at least 1");
        }

        if (MaxBatchSize < 1)
        {
            throw new ConfigurationException($"{Section}:MaxBatchSize", $"{MaxBatchSize} must be at least 1");
        }

        if (CheckpointEvery < 1)
        {
            throw new ConfigurationException($"{Section}:CheckpointEvery", $"{CheckpointEvery} must be at least 1");
        }
    }
}
