using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using Google.Protobuf;

namespace GenerateCT.Federation.Transfer;

/// <summary>
/// Rebuilds a <see cref="WeightSet"/> in memory from <see cref="TensorChunk"/> messages (a node
/// downloading a version), checking order, offsets, shapes, dtype and each tensor's SHA-256. After a
/// dropped stream, ask for the rest from <see cref="Position"/> and keep adding.
/// </summary>
public sealed class ChunkAssembler
{
    private readonly ChunkSequence _sequence;
    private readonly WeightLayout? _expected;
    private readonly List<WeightTensor> _tensors = [];
    private float[]? _current;

    /// <param name="expected">The layout the weights must have; null accepts any tensors (the version's own layout is learned from its chunks).</param>
    public ChunkAssembler(WeightLayout? expected = null)
    {
        _expected = expected;
        _sequence = new ChunkSequence(expected);
    }

    /// <summary>Where the transfer stands: send as <c>DownloadModelRequest.resume_from</c> to continue.</summary>
    public TransferPosition Position => _sequence.Position;

    /// <summary>With an expected layout: every tensor has arrived whole.</summary>
    public bool IsComplete => _sequence.IsComplete;

    /// <exception cref="FederationException">the chunk does not continue the transfer (see <see cref="ChunkSequenceException"/> and its siblings); nothing is changed by it.</exception>
    public void Add(TensorChunk chunk)
    {
        var accepted = _sequence.Accept(chunk);
        if (accepted.Starts)
        {
            _current = GC.AllocateUninitializedArray<float>((int)WeightLayout.ElementsOf(chunk.Shape.ToArray()));
        }

        chunk.Data.Span.CopyTo(FloatBytes.Of(_current!, (int)chunk.Offset, chunk.Data.Length / sizeof(float)).Span);
        if (accepted.Ends)
        {
            _tensors.Add(new WeightTensor(chunk.Name, chunk.Shape, _current!));
            _current = null;
        }
    }

    /// <summary>The weights received.</summary>
    /// <exception cref="ChunkSequenceException">a tensor is incomplete, or tensors of the expected layout are missing.</exception>
    public WeightSet ToWeightSet()
    {
        if (_sequence.CurrentName is not null || (_expected is not null && !IsComplete))
        {
            throw new ChunkSequenceException($"the transfer is incomplete: it stands at tensor {Position.TensorIndex}, element {Position.Offset}");
        }

        return new WeightSet(_tensors);
    }
}
