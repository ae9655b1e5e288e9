using System.Security.Cryptography;

namespace GenerateCT.Federation.Weights;

/// <summary>The running version digest of <see cref="WeightFileFormat"/>.</summary>
internal sealed class VersionDigest : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public VersionDigest() => _hash.AppendData(WeightFileFormat.FileHeader);

    public int TensorCount { get; private set; }

    public void AddTensor(ReadOnlySpan<byte> tensorHeader, ReadOnlySpan<byte> dataHash)
    {
        _hash.AppendData(tensorHeader);
        _hash.AppendData(dataHash);
        TensorCount++;
    }

    public byte[] Finish() => _hash.GetHashAndReset();

    public void Dispose() => _hash.Dispose();
}
