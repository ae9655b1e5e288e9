namespace GenerateCT.Federation.Weights;

/// <summary>
/// Appends tensors to <c>path.partial</c> in the <see cref="WeightFileFormat"/>; <see cref="CompleteAsync"/>
/// writes the end record, fsyncs and renames it to <c>path</c>. Tensors may arrive in pieces (a spool
/// writes chunk by chunk) and the caller supplies each tensor's data hash.
/// </summary>
internal sealed class WeightFileWriter : IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly VersionDigest _digest;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private byte[]? _header;
    private long _remainingBytes;
    private bool _completed;

    private WeightFileWriter(string path, FileStream file, VersionDigest digest)
    {
        Path = path;
        _file = file;
        _digest = digest;
    }

    /// <summary>The final path; the file is written beside it as <c>path.partial</c>.</summary>
    public string Path { get; }

    public string PartialPath => Path + WeightFileFormat.PartialSuffix;

    /// <summary>Bytes written so far (the partial file's length).</summary>
    public long Length => _file.Position;

    /// <summary>Where the record of the tensor being written starts (to roll it back).</summary>
    public long TensorStart { get; private set; }

    public bool InTensor => _header is not null;

    public static WeightFileWriter Create(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var file = new FileStream(path + WeightFileFormat.PartialSuffix, FileMode.Create, FileAccess.ReadWrite, FileShare.Read, bufferSize: 1 << 16);
        file.Write(WeightFileFormat.FileHeader);
        return new WeightFileWriter(path, file, new VersionDigest());
    }

    /// <summary>
    /// Reopens a partial file whose first <paramref name="length"/> bytes hold <paramref name="completed"/>
    /// whole tensors (header bytes and data hash each); anything after is cut off.
    /// </summary>
    public static WeightFileWriter Resume(string path, long length, IEnumerable<(string Name, byte[] Header, byte[] DataHash)> completed)
    {
        var file = new FileStream(path + WeightFileFormat.PartialSuffix, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 1 << 16);
        file.SetLength(length);
        file.Position = length;
        var writer = new WeightFileWriter(path, file, new VersionDigest());
        foreach (var (name, header, hash) in completed)
        {
            writer._names.Add(name);
            writer._digest.AddTensor(header, hash);
        }

        writer.TensorStart = length;
        return writer;
    }

    /// <summary>Continues a tensor whose record starts at <paramref name="recordStart"/> and whose first <paramref name="elementsPresent"/> elements are already in the file.</summary>
    public void ContinueTensor(string name, long[] shape, long recordStart, long elementsPresent)
    {
        _header = WeightFileFormat.TensorHeader(name, shape);
        _names.Add(name);
        TensorStart = recordStart;
        _remainingBytes = (WeightLayout.ElementsOf(shape) - elementsPresent) * sizeof(float);
    }

    public void BeginTensor(string name, long[] shape)
    {
        if (_header is not null)
        {
            throw new InvalidOperationException($"tensor '{name}' begun before the previous one ended");
        }

        if (!_names.Add(name))
        {
            throw new ArgumentException($"tensor '{name}' appears twice in one weights file");
        }

        TensorStart = _file.Position;
        _header = WeightFileFormat.TensorHeader(name, shape);
        _file.Write(_header);
        _remainingBytes = WeightLayout.ElementsOf(shape) * sizeof(float);
    }

    public ValueTask WriteDataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_header is null || data.Length > _remainingBytes)
        {
            throw new InvalidOperationException("data written outside a tensor or past its end");
        }

        _remainingBytes -= data.Length;
        return _file.WriteAsync(data, cancellationToken);
    }

    /// <summary>Ends the tensor once all its data is written: stores <paramref name="dataHash"/> after it.</summary>
    public void EndTensor(byte[] dataHash)
    {
        if (_header is null || _remainingBytes != 0)
        {
            throw new InvalidOperationException($"tensor ended with {_remainingBytes} bytes of data missing");
        }

        _file.Write(dataHash);
        _digest.AddTensor(_header, dataHash);
        _header = null;
    }

    /// <summary>Cuts the tensor being written off the file, so it can be written again from its start.</summary>
    public void RollbackTensor(string name)
    {
        _file.Flush();
        _file.SetLength(TensorStart);
        _file.Position = TensorStart;
        _header = null;
        _names.Remove(name);
    }

    /// <summary>Fsyncs what was written so far; returns the durable length.</summary>
    public async Task<long> FlushAsync(CancellationToken cancellationToken)
    {
        await _file.FlushAsync(cancellationToken);
        _file.Flush(flushToDisk: true);
        return _file.Position;
    }

    public async Task WriteTensorAsync(WeightTensor tensor, CancellationToken cancellationToken)
    {
        BeginTensor(tensor.Name, tensor.ShapeArray);
        var bytes = FloatBytes.Of(tensor.Data, 0, tensor.Data.Length);
        await WriteDataAsync(bytes, cancellationToken);
        EndTensor(System.Security.Cryptography.SHA256.HashData(bytes.Span));
    }

    /// <summary>Writes the end record, fsyncs, renames the partial file to its final name; returns the version id.</summary>
    public async Task<string> CompleteAsync(CancellationToken cancellationToken)
    {
        if (_header is not null)
        {
            throw new InvalidOperationException("weights file completed in the middle of a tensor");
        }

        var digest = _digest.Finish();
        await _file.WriteAsync(WeightFileFormat.EndRecord(_digest.TensorCount, digest), cancellationToken);
        await FlushAsync(cancellationToken);
        await _file.DisposeAsync();
        WeightFileFormat.Publish(PartialPath, Path);
        _completed = true;
        return WeightFileFormat.Hex(digest);
    }

    /// <summary>Closes the file; a file not completed stays as <c>.partial</c> (a spool resumes it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            await _file.DisposeAsync();
        }

        _digest.Dispose();
    }
}
