namespace GenerateCT.Federation;

/// <summary>A tensor's bytes do not hash to the SHA-256 sent with it (or stored beside it): resend or re-read that tensor.</summary>
public sealed class TensorHashMismatchException : FederationException
{
    public TensorHashMismatchException(string message)
        : base(message)
    {
    }
}
