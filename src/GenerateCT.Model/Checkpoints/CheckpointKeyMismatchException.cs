namespace GenerateCT.Model.Checkpoints;

/// <summary>A state dict does not fit the model: the report names every missing, unexpected or mis-shaped key.</summary>
public sealed class CheckpointKeyMismatchException(StateDictReport report, string source)
    : ModelException($"checkpoint {source} does not fit the model: {report}. Check that the checkpoint was written for the same stage and config.")
{
    public StateDictReport Report { get; } = report;
}
