namespace GenerateCT.Federation;

/// <summary>Root of the errors the federation library raises for bad weights, files or transfers.</summary>
public class FederationException : Exception
{
    public FederationException(string message)
        : base(message)
    {
    }

    public FederationException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
