namespace GenerateCT.Federation;

/// <summary>Chunks arrive out of sequence: a gap, an overlap, a tensor out of order, data past a tensor's end or a missing hash; resume from the receiver's position.</summary>
public sealed class ChunkSequenceException : FederationException
{
    public ChunkSequenceException(string message)
        : base(message)
    {
    }
}
