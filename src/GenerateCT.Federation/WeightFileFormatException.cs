namespace GenerateCT.Federation;

/// <summary>A weights file is truncated, corrupt or not in the GCTW format (see WeightFile): re-write or re-download it.</summary>
public sealed class WeightFileFormatException : FederationException
{
    public WeightFileFormatException(string message)
        : base(message)
    {
    }

    public WeightFileFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
