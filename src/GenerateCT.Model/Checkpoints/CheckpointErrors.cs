namespace GenerateCT.Model.Checkpoints;

/// <summary>The file is not a checkpoint we can read (wrong format, truncated, corrupt).</summary>
public sealed class CheckpointFormatException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>A state dict does not fit the model: the report names every missing, unexpected or mis-shaped key.</summary>
public sealed class CheckpointKeyMismatchException(StateDictReport report, string source)
    : InvalidOperationException($"checkpoint {source} does not fit the model: {report}. Check that the checkpoint was written for the same stage and config.")
{
    public StateDictReport Report { get; } = report;
}
