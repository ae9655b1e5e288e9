using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace GenerateCT.Federation.Weights;

/// <summary>
/// The GCTW weights file, version 1 (all integers little-endian):
/// <code>
/// file    = "GCTW" u32:1  tensor*  end
/// tensor  = 'T' u16:name_len name(UTF-8) u8:dtype(1 = float32) u8:rank i64:dim*rank  data  sha256(data)[32]
/// end     = 'E' i32:tensor_count  version_digest[32]
/// </code>
/// The version digest is SHA-256 over "GCTW" u32:1 followed, per tensor, by its record header (from
/// 'T' to the last dim) and the SHA-256 of its data: it names the weights by content, and a receiver
/// who checked each tensor's hash on the wire can check the digest without hashing any byte twice.
/// </summary>
internal static class WeightFileFormat
{
    public const int MaxNameBytes = ushort.MaxValue;
    public const int MaxRank = byte.MaxValue;
    public const byte Float32 = 1; // = TensorDtype.Float32 in federation.proto
    public const byte TensorTag = (byte)'T';
    public const byte EndTag = (byte)'E';
    public const int HashBytes = 32;
    public const int EndRecordBytes = 1 + 4 + HashBytes;

    public static ReadOnlySpan<byte> FileHeader => "GCTW\u0001\0\0\0"u8;

    /// <summary>Suffix of a file being written; it is renamed to its final name once complete and fsynced.</summary>
    public const string PartialSuffix = ".partial";

    public static byte[] TensorHeader(string name, ReadOnlySpan<long> shape)
    {
        int nameBytes = Encoding.UTF8.GetByteCount(name);
        var header = new byte[1 + 2 + nameBytes + 1 + 1 + (8 * shape.Length)];
        header[0] = TensorTag;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(1), (ushort)nameBytes);
        Encoding.UTF8.GetBytes(name, header.AsSpan(3));
        int p = 3 + nameBytes;
        header[p++] = Float32;
        header[p++] = (byte)shape.Length;
        foreach (var d in shape)
        {
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(p), d);
            p += 8;
        }

        return header;
    }

    public static byte[] EndRecord(int count, ReadOnlySpan<byte> digest)
    {
        var end = new byte[EndRecordBytes];
        end[0] = EndTag;
        BinaryPrimitives.WriteInt32LittleEndian(end.AsSpan(1), count);
        digest.CopyTo(end.AsSpan(5));
        return end;
    }

    public static string Hex(ReadOnlySpan<byte> digest) => Convert.ToHexStringLower(digest);

    /// <summary>Fsyncs a directory so that a rename inside it survives a power loss (POSIX).</summary>
    public static void SyncDirectory(string directory)
    {
        int fd = NativeMethods.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (NativeMethods.fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = NativeMethods.close(fd);
        }
    }

    /// <summary>Renames a fsynced <c>.partial</c> file to its final name and fsyncs the directory, so readers see no file or the whole one.</summary>
    public static void Publish(string partialPath, string path)
    {
        File.Move(partialPath, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi)]
        public static extern int open(string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
