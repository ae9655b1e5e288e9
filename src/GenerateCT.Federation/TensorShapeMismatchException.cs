namespace GenerateCT.Federation;

/// <summary>A tensor whose shape differs from the expected layout's (an update for another model configuration).</summary>
public sealed class TensorShapeMismatchException : FederationException
{
    public TensorShapeMismatchException(string message)
        : base(message)
    {
    }
}
