using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using Google.Protobuf;

namespace GenerateCT.Federation.Transfer;

/// <summary>
/// Splits weights into <see cref="TensorChunk"/> messages of at most a few MB of data each, in the
/// weights' order, the last chunk of each tensor carrying the SHA-256 of its data; starts at a
/// <see cref="TransferPosition"/> to resume a transfer.
/// </summary>
public static class ChunkWriter
{
    /// <summary>
    /// 4 MiB less 16 KiB: with the chunk's framing a message stays under gRPC's default 4 MiB
    /// receive limit, so neither side has to raise it.
    /// </summary>
    public const int DefaultMaxChunkBytes = (4 * 1024 * 1024) - (16 * 1024);

    /// <summary>Chunks of an in-memory weight set. The chunks share the tensors' arrays (no copy): leave them unchanged while sending.</summary>
    /// <exception cref="ChunkSequenceException"><paramref name="from"/> is not a position in these weights.</exception>
    public static IEnumerable<TensorChunk> Chunks(WeightSet weights, int maxChunkBytes = DefaultMaxChunkBytes, TransferPosition? from = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int perChunk = ElementsPerChunk(maxChunkBytes);
        var (start, offset) = Start(weights.Layout, from);
        return Iterate();

        IEnumerable<TensorChunk> Iterate()
        {
            for (int i = start; i < weights.Count; i++)
            {
                var tensor = weights[i];
                long first = i == start ? offset : 0;
                foreach (var (at, n, last) in Slices(tensor.Data.Length, first, perChunk))
                {
                    var chunk = NewChunk(tensor.Name, tensor.ShapeArray, at, UnsafeByteOperations.UnsafeWrap(FloatBytes.Of(tensor.Data, (int)at, n)), last);
                    if (last)
                    {
                        chunk.Sha256 = ByteString.CopyFrom(SHA256.HashData(FloatBytes.Of(tensor.Data, 0, tensor.Data.Length).Span));
                    }

                    yield return chunk;
                }
            }
        }
    }

    /// <summary>
    /// Chunks of a weights file, read one chunk at a time (a coordinator serves a version without loading it).
    /// Each tensor is checked against its stored SHA-256 before its last chunk is sent.
    /// </summary>
    public static async IAsyncEnumerable<TensorChunk> ChunksAsync(
        string weightFile, int maxChunkBytes = DefaultMaxChunkBytes, TransferPosition? from = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        int perChunk = ElementsPerChunk(maxChunkBytes);
        var (start, offset) = Start(WeightFile.ReadLayout(weightFile), from);
        using var reader = WeightFileReader.Open(weightFile);
        while (reader.MoveNext())
        {
            if (reader.Index < start)
            {
                continue;
            }

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long first = reader.Index == start ? offset : 0;
            for (long at = 0; at < first; at += perChunk)
            {
                // Resuming inside a tensor: hash the part already sent so the check covers the whole tensor.
                int n = (int)Math.Min(perChunk, first - at);
                var skipped = new float[n];
                await reader.ReadDataAsync(FloatBytes.Of(skipped, 0, n), at, cancellationToken);
                hash.AppendData(FloatBytes.Of(skipped, 0, n).Span);
            }

            foreach (var (at, n, last) in Slices(reader.ElementCount, first, perChunk))
            {
                var data = GC.AllocateUninitializedArray<float>(n);
                var bytes = FloatBytes.Of(data, 0, n);
                await reader.ReadDataAsync(bytes, at, cancellationToken);
                hash.AppendData(bytes.Span);
                var chunk = NewChunk(reader.Name, reader.Shape, at, UnsafeByteOperations.UnsafeWrap(bytes), last);
                if (last)
                {
                    var digest = hash.GetHashAndReset();
                    reader.VerifyHash(digest);
                    chunk.Sha256 = ByteString.CopyFrom(digest);
                }

                yield return chunk;
            }
        }
    }

    private static TensorChunk NewChunk(string name, long[] shape, long offset, ByteString data, bool last)
    {
        var chunk = new TensorChunk { Name = name, Dtype = TensorDtype.Float32, Offset = offset, Data = data, LastChunkOfTensor = last };
        chunk.Shape.AddRange(shape);
        return chunk;
    }

    /// <summary>(offset, count, last) of each chunk of a tensor of <paramref name="count"/> elements from <paramref name="first"/>; one empty chunk for an empty tensor.</summary>
    private static IEnumerable<(long At, int Count, bool Last)> Slices(long count, long first, int perChunk)
    {
        if (count == 0)
        {
            yield return (0, 0, true);
            yield break;
        }

        for (long at = first; at < count; at += perChunk)
        {
            int n = (int)Math.Min(perChunk, count - at);
            yield return (at, n, at + n == count);
        }
    }

    private static int ElementsPerChunk(int maxChunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunkBytes, sizeof(float));
        return maxChunkBytes / sizeof(float);
    }

    private static (int Index, long Offset) Start(WeightLayout layout, TransferPosition? from)
    {
        if (from is null)
        {
            return (0, 0);
        }

        bool valid = from.TensorIndex >= 0 && from.Offset >= 0 &&
            (from.TensorIndex < layout.Count ? from.Offset < Math.Max(1, layout.ElementCountAt(from.TensorIndex)) : from.TensorIndex == layout.Count && from.Offset == 0);
        if (!valid)
        {
            throw new ChunkSequenceException($"resume position ({from.TensorIndex}, {from.Offset}) is not inside these weights ({layout.Count} tensors)");
        }

        return (from.TensorIndex, from.Offset);
    }
}
