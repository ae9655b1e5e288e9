using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace GenerateCT.Data.Audit;

/// <summary>
/// The hash that links one audit row to the previous one. Version 1 of the canonical form:
/// SHA-256 over "gct-audit-v1", the previous row's hash (32 bytes, zeros for row 1), the row's
/// sequence number and its time in microseconds since the Unix epoch (both big-endian int64), then
/// actor, action, outcome and detail, each as a big-endian int32 byte length and its UTF-8 bytes
/// (length 0xFFFFFFFF for a null detail). Length prefixes make the field boundaries unambiguous, so
/// no two different rows share an encoding.
/// </summary>
public static class AuditChain
{
    public const int HashLength = 32;

    private static readonly byte[] Domain = Encoding.ASCII.GetBytes("gct-audit-v1");

    /// <summary>The "previous hash" of the first row.</summary>
    public static byte[] Genesis => new byte[HashLength];

    /// <summary>PostgreSQL stores timestamps to the microsecond: hash exactly what is stored.</summary>
    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % 10), TimeSpan.Zero);
    }

    public static long UnixMicroseconds(DateTimeOffset at) => (at.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static byte[] ComputeHash(ReadOnlySpan<byte> previousHash, long sequence, DateTimeOffset occurredAt, string actor, string action, string outcome, string? detail)
    {
        if (previousHash.Length != HashLength)
        {
            throw new ArgumentException($"previous hash must be {HashLength} bytes, not {previousHash.Length}", nameof(previousHash));
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> scratch = stackalloc byte[8];
        hash.AppendData(Domain);
        hash.AppendData(previousHash);
        BinaryPrimitives.WriteInt64BigEndian(scratch, sequence);
        hash.AppendData(scratch);
        BinaryPrimitives.WriteInt64BigEndian(scratch, UnixMicroseconds(occurredAt));
        hash.AppendData(scratch);
        AppendField(hash, actor);
        AppendField(hash, action);
        AppendField(hash, outcome);
        AppendField(hash, detail);
        return hash.GetHashAndReset();
    }

    private static void AppendField(IncrementalHash hash, string? value)
    {
        Span<byte> length = stackalloc byte[4];
        if (value is null)
        {
            BinaryPrimitives.WriteUInt32BigEndian(length, uint.MaxValue);
            hash.AppendData(length);
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
