using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace GenerateCT.Federation.Weights;

/// <summary>
/// Global model versions, spooled updates and optimizer state on disk, in the GCTW format: written
/// atomically (<c>.partial</c>, fsync, rename, directory fsync), read back tensor by tensor, each
/// tensor's SHA-256 stored beside it, and the whole named by its version id (see <see cref="WeightSet.ComputeVersionId"/>).
/// </summary>
public static class WeightFile
{
    /// <summary>File name extension of weights files.</summary>
    public const string Extension = ".gctw";

    /// <summary>Writes <paramref name="tensors"/> (a <see cref="WeightSet"/>, or tensors produced one at a time) atomically; returns the version id.</summary>
    public static async Task<string> WriteAsync(string path, IEnumerable<WeightTensor> tensors, CancellationToken cancellationToken = default)
    {
        await using var writer = WeightFileWriter.Create(path);
        foreach (var tensor in tensors)
        {
            await writer.WriteTensorAsync(tensor, cancellationToken);
        }

        return await writer.CompleteAsync(cancellationToken);
    }

    /// <summary>Reads the whole file, checking every tensor's SHA-256 and the version digest.</summary>
    /// <exception cref="FederationException">the file is incomplete, corrupt or not a weights file.</exception>
    public static Task<WeightSet> ReadAsync(string path, CancellationToken cancellationToken = default) => ReadAsync(path, verify: true, cancellationToken);

    /// <summary>Reads the whole file; with <paramref name="verify"/> false the hashes are not recomputed (bytes checked on arrival, e.g. by a spool).</summary>
    /// <exception cref="FederationException">the file is incomplete, corrupt or not a weights file.</exception>
    public static async Task<WeightSet> ReadAsync(string path, bool verify, CancellationToken cancellationToken = default)
    {
        var tensors = new List<WeightTensor>();
        if (verify)
        {
            await foreach (var t in ReadTensorsAsync(path, cancellationToken))
            {
                tensors.Add(t);
            }
        }
        else
        {
            using var reader = WeightFileReader.Open(path);
            while (reader.MoveNext())
            {
                tensors.Add(await reader.ReadTensorAsync(verify: false, cancellationToken));
            }
        }

        return new WeightSet(tensors);
    }

    /// <summary>
    /// Streams the tensors one at a time, each checked against its SHA-256; the version digest is
    /// checked when the end is reached (a consumer that stops early has seen only checked tensors).
    /// </summary>
    public static async IAsyncEnumerable<WeightTensor> ReadTensorsAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var reader = WeightFileReader.Open(path);
        using var digest = new VersionDigest();
        while (reader.MoveNext())
        {
            var tensor = await reader.ReadTensorAsync(verify: false, cancellationToken);
            var hash = SHA256.HashData(FloatBytes.Of(tensor.Data, 0, tensor.Data.Length).Span);
            reader.VerifyHash(hash);
            digest.AddTensor(reader.Header, hash);
            yield return tensor;
        }

        if (!digest.Finish().AsSpan().SequenceEqual(reader.EndDigest))
        {
            throw new TensorHashMismatchException($"{path}: the version digest in its end record does not match its tensors");
        }
    }

    /// <summary>Tensor names and shapes, from the record headers alone (no data is read).</summary>
    public static WeightLayout ReadLayout(string path)
    {
        using var reader = WeightFileReader.Open(path);
        var tensors = new List<(string, IReadOnlyList<long>)>();
        while (reader.MoveNext())
        {
            tensors.Add((reader.Name, reader.Shape));
        }

        return new WeightLayout(tensors);
    }

    /// <summary>The version id recorded in the file's end record (not recomputed: see <see cref="ReadAsync"/> for a check).</summary>
    public static string ReadVersionId(string path)
    {
        using var reader = WeightFileReader.Open(path);
        while (reader.MoveNext())
        {
        }

        return WeightFileFormat.Hex(reader.EndDigest);
    }
}
