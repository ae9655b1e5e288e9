using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace GenerateCT.Federation.Weights;

/// <summary>
/// Reads a <see cref="WeightFileFormat"/> file record by record with positional reads: tensor headers
/// one at a time, their data in pieces into the caller's buffer, so a reader holds one tensor at most.
/// A partial file (a spool being written) can be scanned up to a given length.
/// </summary>
internal sealed class WeightFileReader : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private readonly long _length;
    private readonly bool _partial;
    private long _next;

    private WeightFileReader(string path, SafeFileHandle handle, long length, bool partial)
    {
        _path = path;
        _handle = handle;
        _length = length;
        _partial = partial;
        Span<byte> header = stackalloc byte[8];
        if (length < 8 || RandomAccess.Read(handle, header, 0) != 8 || !header.SequenceEqual(WeightFileFormat.FileHeader))
        {
            if (!partial || length >= 8)
            {
                throw new WeightFileFormatException($"{path} is not a GCTW weights file (version 1)");
            }
        }

        _next = 8;
    }

    public string Name { get; private set; } = string.Empty;

    public long[] Shape { get; private set; } = [];

    public long ElementCount { get; private set; }

    /// <summary>The current tensor's record header (from its tag to its last dim), as the version digest hashes it.</summary>
    public byte[] Header { get; private set; } = [];

    public long RecordStart { get; private set; }

    public long DataStart { get; private set; }

    /// <summary>In a partial scan: elements of the current tensor present before the scan length (all when whole).</summary>
    public long ElementsPresent { get; private set; }

    /// <summary>The current tensor's data and hash are all in the file (always, outside a partial scan).</summary>
    public bool IsWhole { get; private set; }

    /// <summary>Index of the current tensor.</summary>
    public int Index { get; private set; } = -1;

    /// <summary>After the end record: the tensor count and version digest it holds.</summary>
    public int EndCount { get; private set; }

    public byte[] EndDigest { get; private set; } = [];

    public static WeightFileReader Open(string path)
    {
        var handle = OpenHandle(path);
        return new WeightFileReader(path, handle, RandomAccess.GetLength(handle), partial: false);
    }

    /// <summary>Scans the first <paramref name="length"/> bytes of a file that has no end record yet.</summary>
    public static WeightFileReader OpenPartial(string path, long length)
    {
        var handle = OpenHandle(path);
        return new WeightFileReader(path, handle, Math.Min(length, RandomAccess.GetLength(handle)), partial: true);
    }

    private static SafeFileHandle OpenHandle(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException e)
        {
            throw new WeightFileFormatException($"weights file {path} does not exist", e);
        }
    }

    /// <summary>
    /// Moves to the next tensor; false at the end record (or, in a partial scan, where whole headers
    /// stop). In a partial scan the tensor returned may have fewer elements than its shape
    /// (<see cref="ElementsPresent"/>); it is then the last.
    /// </summary>
    public bool MoveNext()
    {
        if (_partial && Index >= 0 && !IsWhole)
        {
            return false;
        }

        RecordStart = _next;
        if (_next >= _length)
        {
            if (_partial)
            {
                return false;
            }

            throw new WeightFileFormatException($"{_path} ends after {Index + 1} tensors without an end record (incomplete write)");
        }

        byte tag = ReadByte(_next);
        if (tag == WeightFileFormat.EndTag && !_partial)
        {
            Span<byte> endRecord = stackalloc byte[WeightFileFormat.EndRecordBytes];
            ReadExactly(endRecord, _next);
            if (_next + WeightFileFormat.EndRecordBytes != _length)
            {
                throw new WeightFileFormatException($"{_path} has {_length - _next - WeightFileFormat.EndRecordBytes} bytes after its end record");
            }

            EndCount = BinaryPrimitives.ReadInt32LittleEndian(endRecord[1..]);
            EndDigest = endRecord[5..].ToArray();
            if (EndCount != Index + 1)
            {
                throw new WeightFileFormatException($"{_path}: end record counts {EndCount} tensors, the file holds {Index + 1}");
            }

            return false;
        }

        if (tag != WeightFileFormat.TensorTag)
        {
            throw new WeightFileFormatException($"{_path}: unexpected record tag 0x{tag:x2} at byte {_next}");
        }

        if (_partial && _next + 3 > _length)
        {
            return false;
        }

        Span<byte> fixedPart = stackalloc byte[2];
        ReadExactly(fixedPart, _next + 1);
        int nameBytes = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart);
        long afterName = _next + 3 + nameBytes;
        if (_partial && afterName + 2 > _length)
        {
            return false;
        }

        var nameAndKind = new byte[nameBytes + 2];
        ReadExactly(nameAndKind, _next + 3);
        byte dtype = nameAndKind[nameBytes];
        int rank = nameAndKind[nameBytes + 1];
        string name = Encoding.UTF8.GetString(nameAndKind, 0, nameBytes);
        if (dtype != WeightFileFormat.Float32)
        {
            throw new TensorDtypeException($"{_path}: tensor '{name}' has dtype code {dtype}; only float32 (1) is supported");
        }

        long dataStart = afterName + 2 + (8L * rank);
        if (_partial && dataStart > _length)
        {
            return false;
        }

        var dims = new byte[8 * rank];
        ReadExactly(dims, afterName + 2);
        var shape = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            shape[i] = BinaryPrimitives.ReadInt64LittleEndian(dims.AsSpan(8 * i));
            if (shape[i] < 0)
            {
                throw new WeightFileFormatException($"{_path}: tensor '{name}' has a negative dimension");
            }
        }

        long count;
        try
        {
            count = WeightLayout.ElementsOf(shape);
        }
        catch (OverflowException)
        {
            throw new WeightFileFormatException($"{_path}: tensor '{name}' has an impossible shape");
        }

        long end = dataStart + (count * sizeof(float)) + WeightFileFormat.HashBytes;
        if (end > _length && !_partial)
        {
            throw new WeightFileFormatException($"{_path} is truncated in tensor '{name}' (needs {end} bytes, has {_length})");
        }

        Name = name;
        Shape = shape;
        ElementCount = count;
        Header = WeightFileFormat.TensorHeader(name, shape);
        DataStart = dataStart;
        IsWhole = end <= _length;
        ElementsPresent = IsWhole ? count : Math.Min(count, (_length - dataStart) / sizeof(float));
        if (!IsWhole && ElementsPresent == count)
        {
            ElementsPresent = 0; // data whole but its hash cut off: take the tensor again from its start
        }

        Index++;
        _next = end;
        return true;
    }

    /// <summary>Reads elements [offset, offset + destination.Length / 4) of the current tensor's data.</summary>
    public async ValueTask ReadDataAsync(Memory<byte> destination, long elementOffset, CancellationToken cancellationToken)
    {
        long at = DataStart + (elementOffset * sizeof(float));
        int done = 0;
        while (done < destination.Length)
        {
            int n = await RandomAccess.ReadAsync(_handle, destination[done..], at + done, cancellationToken);
            if (n == 0)
            {
                throw new WeightFileFormatException($"{_path} ended while reading tensor '{Name}'");
            }

            done += n;
        }
    }

    /// <summary>Positional read of file bytes (thread-safe: several workers may read one file at once).</summary>
    public void ReadAt(Span<byte> destination, long fileOffset) => ReadExactly(destination, fileOffset);

    public byte[] ReadDataHash()
    {
        var hash = new byte[WeightFileFormat.HashBytes];
        ReadExactly(hash, DataStart + (ElementCount * sizeof(float)));
        return hash;
    }

    /// <summary>Reads the whole current tensor into a new array, checking its stored hash when <paramref name="verify"/>.</summary>
    public async Task<WeightTensor> ReadTensorAsync(bool verify, CancellationToken cancellationToken)
    {
        var data = GC.AllocateUninitializedArray<float>(checked((int)ElementCount));
        var bytes = FloatBytes.Of(data, 0, data.Length);
        await ReadDataAsync(bytes, 0, cancellationToken);
        var tensor = new WeightTensor(Name, Shape, data);
        if (verify)
        {
            VerifyHash(SHA256.HashData(bytes.Span));
        }

        return tensor;
    }

    public void VerifyHash(ReadOnlySpan<byte> computed)
    {
        if (!computed.SequenceEqual(ReadDataHash()))
        {
            throw new TensorHashMismatchException($"{_path}: tensor '{Name}' does not match its stored SHA-256 (the file is corrupt)");
        }
    }

    private byte ReadByte(long at)
    {
        Span<byte> one = stackalloc byte[1];
        ReadExactly(one, at);
        return one[0];
    }

    private void ReadExactly(Span<byte> buffer, long at)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], at + done);
            if (n == 0)
            {
                throw new WeightFileFormatException($"{_path} is truncated at byte {at + done}");
            }

            done += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}
