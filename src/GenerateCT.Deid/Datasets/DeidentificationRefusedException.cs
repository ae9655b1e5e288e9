namespace GenerateCT.Deid.Datasets;

/// <summary>The instance is refused, not passed through; the message says why and what would make it acceptable.</summary>
public sealed class DeidentificationRefusedException(RefusalReason reason, string message) : DeidException(message)
{
    public RefusalReason Reason { get; } = reason;
}
