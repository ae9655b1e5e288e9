using System.Security.Cryptography;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;

namespace GenerateCT.Federation.Transfer;

/// <summary>
/// The receiving side's checks, shared by <see cref="ChunkAssembler"/> and <see cref="UpdateSpool"/>:
/// chunks come tensor by tensor in the layout's order, each at the element offset where the previous
/// one ended, float32, with the shape expected, and each tensor's data hashes to the SHA-256 on its
/// last chunk. A chunk that fails a check changes nothing, except a hash mismatch, which sends the
/// position back to the start of that tensor.
/// </summary>
internal sealed class ChunkSequence
{
    private readonly WeightLayout? _expected;
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private IncrementalHash? _hash;
    private long _count;

    public ChunkSequence(WeightLayout? expected) => _expected = expected;

    public int TensorIndex { get; private set; }

    public long Offset { get; private set; }

    /// <summary>Name and shape of the tensor in progress (null between tensors).</summary>
    public string? CurrentName { get; private set; }

    public long[] CurrentShape { get; private set; } = [];

    public TransferPosition Position => new() { TensorIndex = TensorIndex, Offset = Offset };

    public bool IsComplete => _expected is not null && TensorIndex == _expected.Count;

    /// <summary>What an accepted chunk means for storage: a tensor starts (write its header), ends (store its hash).</summary>
    public readonly record struct Accepted(bool Starts, bool Ends, byte[]? Hash);

    /// <summary>Skips tensors already held whole (resume after a restart).</summary>
    public void ResumeAfter(int wholeTensors, IEnumerable<string> names)
    {
        TensorIndex = wholeTensors;
        Offset = 0;
        _seen.UnionWith(names);
    }

    /// <summary>Resumes inside a tensor: its first <paramref name="offset"/> elements are held; feed their bytes to <see cref="PrimeHash"/>.</summary>
    public void ResumeInside(string name, long[] shape, long offset)
    {
        CurrentName = name;
        CurrentShape = shape;
        _count = WeightLayout.ElementsOf(shape);
        _seen.Add(name);
        Offset = offset;
        _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    public void PrimeHash(ReadOnlySpan<byte> heldData) => _hash!.AppendData(heldData);

    public Accepted Accept(TensorChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (_expected is not null && TensorIndex >= _expected.Count)
        {
            throw new ChunkSequenceException($"a chunk of '{chunk.Name}' arrived after the last of {_expected.Count} tensors");
        }

        if (chunk.Dtype != TensorDtype.Float32)
        {
            throw new TensorDtypeException($"tensor '{chunk.Name}' is sent as {chunk.Dtype}; only float32 is accepted");
        }

        if (chunk.Data.Length % sizeof(float) != 0)
        {
            throw new ChunkSequenceException($"a chunk of '{chunk.Name}' has {chunk.Data.Length} bytes of data, not a whole number of float32 values");
        }

        var shape = chunk.Shape.ToArray();
        bool starts = CurrentName is null;
        if (starts)
        {
            CheckNewTensor(chunk.Name, shape);
        }
        else if (chunk.Name != CurrentName)
        {
            throw new ChunkSequenceException($"a chunk of '{chunk.Name}' arrived while '{CurrentName}' is incomplete at element {Offset}");
        }
        else if (!shape.AsSpan().SequenceEqual(CurrentShape))
        {
            throw new TensorShapeMismatchException($"a chunk of '{chunk.Name}' gives shape [{string.Join(", ", shape)}], earlier chunks [{string.Join(", ", CurrentShape)}]");
        }

        long count = starts ? WeightLayout.ElementsOf(shape) : _count;
        if (chunk.Offset != Offset)
        {
            string kind = chunk.Offset > Offset ? "gap" : "overlap";
            throw new ChunkSequenceException($"{kind} in '{chunk.Name}': expected element offset {Offset}, got {chunk.Offset}; resume from ({TensorIndex}, {Offset})");
        }

        long n = chunk.Data.Length / sizeof(float);
        if (Offset + n > count)
        {
            throw new ChunkSequenceException($"a chunk of '{chunk.Name}' runs past its end: elements {Offset}..{Offset + n} of {count}");
        }

        bool ends = Offset + n == count;
        if (chunk.LastChunkOfTensor != ends)
        {
            throw new ChunkSequenceException(ends
                ? $"the chunk that completes '{chunk.Name}' is not marked as its last"
                : $"a chunk of '{chunk.Name}' is marked last at element {Offset + n} of {count}");
        }

        if (starts)
        {
            _seen.Add(chunk.Name);
        }

        var hash = _hash ?? IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(chunk.Data.Span);
        byte[]? digest = null;
        if (ends)
        {
            digest = hash.GetHashAndReset();
            hash.Dispose();
            _hash = null;
            if (!chunk.Sha256.Span.SequenceEqual(digest))
            {
                string why = chunk.Sha256.Length == 0 ? "carries no SHA-256" : "does not hash to the SHA-256 sent with it";
                _seen.Remove(chunk.Name);

                CurrentName = null;
                Offset = 0;
                throw new TensorHashMismatchException($"tensor '{chunk.Name}' {why}; resend it from element 0 (position ({TensorIndex}, 0))");
            }

            CurrentName = null;
            TensorIndex++;
            Offset = 0;
        }
        else
        {
            _hash = hash;
            CurrentName = chunk.Name;
            CurrentShape = shape;
            _count = count;
            Offset += n;
        }

        return new Accepted(starts, ends, digest);
    }

    private void CheckNewTensor(string name, long[] shape)
    {
        if (_expected is not null)
        {
            int index = _expected.IndexOf(name);
            if (index < 0)
            {
                throw new UnknownTensorException($"tensor '{name}' is not in the expected layout of {_expected.Count} tensors");
            }

            if (index != TensorIndex)
            {
                throw new ChunkSequenceException($"tensor '{name}' (#{index}) arrived where '{_expected.NameAt(TensorIndex)}' (#{TensorIndex}) was expected");
            }

            _expected.CheckShape(index, shape, "received tensor");
        }
        else
        {
            if (_seen.Contains(name))
            {
                throw new ChunkSequenceException($"tensor '{name}' arrived twice");
            }

            try
            {
                WeightLayout.CheckShape(name, shape);
            }
            catch (ArgumentException e)
            {
                throw new TensorShapeMismatchException(e.Message);
            }
        }
    }
}
