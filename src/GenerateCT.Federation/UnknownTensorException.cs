namespace GenerateCT.Federation;

/// <summary>A tensor whose name the expected layout does not contain (an update for another model or stage).</summary>
public sealed class UnknownTensorException : FederationException
{
    public UnknownTensorException(string message)
        : base(message)
    {
    }
}
