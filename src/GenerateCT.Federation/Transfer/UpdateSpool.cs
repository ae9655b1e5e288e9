using System.Buffers.Binary;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;

namespace GenerateCT.Federation.Transfer;

/// <summary>
/// Receives one node's update chunk by chunk into a weights file on disk (never the whole update in
/// memory), with the checks of <see cref="ChunkAssembler"/>. What it <see cref="Acknowledged"/> is on
/// disk (fsync) and survives kill -9: reopening the same path resumes there. <see cref="CompleteAsync"/>
/// publishes the update as <c>path</c>, ready for <see cref="Aggregation.Aggregator.AddAsync"/>.
/// </summary>
/// <remarks>
/// Files: <c>path.partial</c> (the tensors so far) and <c>path.ack</c> (the partial file's durable
/// length, replaced atomically after each fsync); a reopened spool cuts the partial file to that length.
/// Not thread-safe, and one spool per path at a time: the coordinator serializes an update's upload
/// and position queries (e.g. a lock per node and round).
/// </remarks>
public sealed class UpdateSpool : IAsyncDisposable
{
    /// <summary>Received data is fsynced (and so acknowledged) at least this often, and at <see cref="FlushAsync"/>.</summary>
    public const long DefaultFlushEveryBytes = 64L * 1024 * 1024;

    private static ReadOnlySpan<byte> AckMagic => "GCTWACK1"u8;

    private readonly WeightLayout _expected;
    private readonly ChunkSequence _sequence;
    private readonly long _flushEveryBytes;
    private WeightFileWriter? _writer;
    private long _unflushedBytes;
    private long _durableLength;
    private string? _versionId;

    private UpdateSpool(string path, WeightLayout expected, long flushEveryBytes)
    {
        Path = path;
        _expected = expected;
        _flushEveryBytes = flushEveryBytes;
        _sequence = new ChunkSequence(expected);
        Acknowledged = _sequence.Position;
    }

    /// <summary>The completed update's path.</summary>
    public string Path { get; }

    /// <summary>Position held durably: what <c>GetUploadPosition</c> reports and an upload resumes from.</summary>
    public TransferPosition Acknowledged { get; private set; }

    /// <summary>Position received so far (ahead of <see cref="Acknowledged"/> until the next flush).</summary>
    public TransferPosition Received => _sequence.Position;

    /// <summary>The update is complete and published at <see cref="Path"/>.</summary>
    public bool IsComplete => _versionId is not null;

    private string AckPath => Path + ".ack";

    /// <summary>
    /// Opens the spool for an update of <paramref name="expected"/>'s layout at <paramref name="path"/>:
    /// new, resumed from what an earlier spool acknowledged, or already complete.
    /// </summary>
    /// <exception cref="FederationException">a completed file at <paramref name="path"/> has another layout.</exception>
    public static async Task<UpdateSpool> OpenAsync(string path, WeightLayout expected, long flushEveryBytes = DefaultFlushEveryBytes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentOutOfRangeException.ThrowIfLessThan(flushEveryBytes, 1);
        var spool = new UpdateSpool(System.IO.Path.GetFullPath(path), expected, flushEveryBytes);
        if (File.Exists(spool.Path))
        {
            expected.CheckSame(WeightFile.ReadLayout(spool.Path), spool.Path);
            spool._sequence.ResumeAfter(expected.Count, Enumerable.Range(0, expected.Count).Select(expected.NameAt));
            spool._versionId = WeightFile.ReadVersionId(spool.Path);
            spool.Acknowledged = spool.Received;
            return spool;
        }

        var partial = spool.Path + WeightFileFormat.PartialSuffix;
        long durable = ReadAck(spool.AckPath);
        if (durable > 0 && File.Exists(partial))
        {
            await spool.ResumeAsync(durable, cancellationToken);
        }
        else
        {
            spool._writer = WeightFileWriter.Create(spool.Path);
        }

        return spool;
    }

    /// <summary>Checks a chunk and appends it to the spool; fsyncs when enough is unflushed.</summary>
    /// <exception cref="FederationException">the chunk does not continue the update (nothing is written), or a tensor's hash is wrong (that tensor is dropped from the spool and must be sent again).</exception>
    public async Task AddAsync(TensorChunk chunk, CancellationToken cancellationToken = default)
    {
        if (IsComplete)
        {
            throw new ChunkSequenceException($"the update at {Path} is already complete");
        }

        var writer = _writer ?? throw new ObjectDisposedException(nameof(UpdateSpool));
        ChunkSequence.Accepted accepted;
        try
        {
            accepted = _sequence.Accept(chunk);
        }
        catch (TensorHashMismatchException)
        {
            if (writer.InTensor)
            {
                writer.RollbackTensor(chunk.Name);
                if (_durableLength > writer.TensorStart)
                {
                    WriteAck(writer.TensorStart);
                    Acknowledged = Received;
                }
            }

            throw;
        }

        if (accepted.Starts)
        {
            writer.BeginTensor(chunk.Name, _expected.ShapeArrayAt(_expected.IndexOf(chunk.Name)));
        }

        await writer.WriteDataAsync(chunk.Data.Memory, cancellationToken);
        if (accepted.Ends)
        {
            writer.EndTensor(accepted.Hash!);
        }

        _unflushedBytes += chunk.Data.Length;
        if (_unflushedBytes >= _flushEveryBytes)
        {
            await FlushAsync(cancellationToken);
        }
    }

    /// <summary>Fsyncs everything received; returns the new <see cref="Acknowledged"/> position.</summary>
    public async Task<TransferPosition> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_writer is not null && !IsComplete)
        {
            long length = await _writer.FlushAsync(cancellationToken);
            WriteAck(length);
            Acknowledged = Received;
            _unflushedBytes = 0;
        }

        return Acknowledged;
    }

    /// <summary>Publishes the complete update at <see cref="Path"/> (fsync, rename); returns its version id. Idempotent.</summary>
    /// <exception cref="ChunkSequenceException">tensors are still missing.</exception>
    public async Task<string> CompleteAsync(CancellationToken cancellationToken = default)
    {
        if (_versionId is not null)
        {
            return _versionId;
        }

        if (!_sequence.IsComplete)
        {
            throw new ChunkSequenceException($"the update is incomplete: it stands at tensor {Received.TensorIndex} of {_expected.Count}, element {Received.Offset}");
        }

        _versionId = await _writer!.CompleteAsync(cancellationToken);
        await _writer.DisposeAsync();
        _writer = null;
        File.Delete(AckPath);
        Acknowledged = Received;
        return _versionId;
    }

    /// <summary>Acknowledges what was received (fsync) and closes the spool: a dropped upload resumes from there.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_writer is not null)
        {
            await FlushAsync(CancellationToken.None);
            await _writer.DisposeAsync();
            _writer = null;
        }
    }

    private async Task ResumeAsync(long durable, CancellationToken cancellationToken)
    {
        var partial = Path + WeightFileFormat.PartialSuffix;
        var whole = new List<(string Name, byte[] Header, byte[] DataHash)>();
        long cut = durable;
        (string Name, long[] Shape, long RecordStart, long Present, long DataStart)? inside = null;
        using (var reader = WeightFileReader.OpenPartial(partial, durable))
        {
            cut = Math.Min(durable, 8);
            while (reader.MoveNext())
            {
                if (reader.Index >= _expected.Count || reader.Name != _expected.NameAt(reader.Index))
                {
                    throw new WeightFileFormatException($"{partial} holds '{reader.Name}' as tensor {reader.Index}, which the expected layout does not");
                }

                _expected.CheckShape(reader.Index, reader.Shape, partial);
                if (reader.IsWhole)
                {
                    whole.Add((reader.Name, reader.Header, reader.ReadDataHash()));
                    cut = reader.DataStart + (reader.ElementCount * sizeof(float)) + WeightFileFormat.HashBytes;
                }
                else
                {
                    cut = reader.ElementsPresent == 0 ? reader.RecordStart : reader.DataStart + (reader.ElementsPresent * sizeof(float));
                    if (reader.ElementsPresent > 0)
                    {
                        inside = (reader.Name, reader.Shape, reader.RecordStart, reader.ElementsPresent, reader.DataStart);
                    }
                }
            }
        }

        if (cut < 8)
        {
            _writer = WeightFileWriter.Create(Path);
            return;
        }

        _sequence.ResumeAfter(whole.Count, whole.Select(w => w.Name));
        _writer = WeightFileWriter.Resume(Path, cut, whole);
        if (inside is { } t)
        {
            _writer.ContinueTensor(t.Name, t.Shape, t.RecordStart, t.Present);
            _sequence.ResumeInside(t.Name, t.Shape, t.Present);
            using var reader = WeightFileReader.OpenPartial(partial, cut);
            while (reader.MoveNext() && reader.Index < whole.Count)
            {
            }

            var buffer = new float[(int)Math.Min(t.Present, 1 << 20)];
            for (long at = 0; at < t.Present; at += buffer.Length)
            {
                int n = (int)Math.Min(buffer.Length, t.Present - at);
                var bytes = FloatBytes.Of(buffer, 0, n);
                await reader.ReadDataAsync(bytes, at, cancellationToken);
                _sequence.PrimeHash(bytes.Span);
            }
        }

        _durableLength = cut;
        Acknowledged = Received;
    }

    private static long ReadAck(string ackPath)
    {
        if (!File.Exists(ackPath))
        {
            return 0;
        }

        var bytes = File.ReadAllBytes(ackPath);
        return bytes.Length == 16 && bytes.AsSpan(0, 8).SequenceEqual(AckMagic) ? BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)) : 0;
    }

    /// <summary>Records the durable length: temp file, fsync, rename (a crash leaves the old length or the new, both true).</summary>
    private void WriteAck(long length)
    {
        var tmp = AckPath + ".tmp";
        Span<byte> bytes = stackalloc byte[16];
        AckMagic.CopyTo(bytes);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[8..], length);
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }

        File.Move(tmp, AckPath, overwrite: true);
        _durableLength = length;
    }
}
