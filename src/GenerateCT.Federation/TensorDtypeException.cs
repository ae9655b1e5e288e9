namespace GenerateCT.Federation;

/// <summary>A tensor in a dtype the federation does not carry (only float32 is accepted).</summary>
public sealed class TensorDtypeException : FederationException
{
    public TensorDtypeException(string message)
        : base(message)
    {
    }
}
