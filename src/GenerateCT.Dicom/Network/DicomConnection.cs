using System.Buffers;
using System.Buffers.Binary;
using GenerateCT.Dicom.IO;

namespace GenerateCT.Dicom.Network;

/// <summary>A DIMSE message: command set (group 0000) and, for C-STORE-RQ, the encoded data set.</summary>
internal sealed class DimseMessage
{
    public DimseMessage(byte presentationContextId, DicomDataset command, ReadOnlyMemory<byte>? dataset = null)
    {
        PresentationContextId = presentationContextId;
        Command = command;
        Dataset = dataset;
    }

    public byte PresentationContextId { get; }

    public DicomDataset Command { get; }

    /// <summary>The data set as encoded in the presentation context's transfer syntax (no meta header).</summary>
    public ReadOnlyMemory<byte>? Dataset { get; }

    public ushort CommandField => (ushort)Command.GetInt32(DicomTag.CommandField);

    /// <summary>Command Data Set Type 0x0101 means "no data set" (PS3.7 §9.3.1).</summary>
    public bool HasDataset => Command.GetInt32(DicomTag.CommandDataSetType) != 0x0101;
}

/// <summary>
/// PDU framing and DIMSE message assembly over one transport stream (TCP or TLS). Receives P-DATA
/// PDVs until the last command and data fragments (PS3.8 §9.3.5, Annex E) and fragments outgoing
/// messages to the peer's maximum PDU length.
/// </summary>
internal sealed class DicomConnection
{
    private const int HeaderLength = 6;
    private readonly Stream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _header = new byte[HeaderLength];

    public DicomConnection(Stream stream, uint maxReceivePdu, long maxDatasetBytes)
    {
        _stream = stream;
        MaxReceivePdu = maxReceivePdu;
        MaxDatasetBytes = maxDatasetBytes;
    }

    /// <summary>Largest PDU we accept (we announce this in A-ASSOCIATE; association PDUs may use up to 64 KiB more).</summary>
    public uint MaxReceivePdu { get; }

    public long MaxDatasetBytes { get; }

    /// <summary>The peer's announced maximum (0 = unlimited); outgoing P-DATA PDUs stay within it.</summary>
    public uint PeerMaxPdu { get; set; }

    public async Task<Pdu> ReceivePduAsync(CancellationToken ct)
    {
        await ReadExactAsync(_header, ct).ConfigureAwait(false);
        var type = (PduType)_header[0];
        uint length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(2));
        if (type is < PduType.AssociateRequest or > PduType.Abort)
        {
            throw new DicomProtocolViolationException($"unrecognized PDU type 0x{(byte)type:X2}", abortReason: 1);
        }

        uint limit = type == PduType.DataTransfer ? (MaxReceivePdu == 0 ? 16u << 20 : MaxReceivePdu) : 1u << 20;
        if (length > limit)
        {
            throw new DicomProtocolViolationException($"{type} PDU declares {length} bytes, above the negotiated maximum {limit}", abortReason: 6);
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
        try
        {
            await ReadExactAsync(buffer.AsMemory(0, (int)length), ct).ConfigureAwait(false);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }

        return new Pdu(type, buffer, (int)length);
    }

    public async Task SendPduAsync(PduType type, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var header = new byte[HeaderLength];
            header[0] = (byte)type;
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(2), (uint)body.Length);
            await _stream.WriteAsync(header, ct).ConfigureAwait(false);
            await _stream.WriteAsync(body, ct).ConfigureAwait(false);
            await _stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task SendAbortAsync(byte source, byte reason, CancellationToken ct) =>
        SendPduAsync(PduType.Abort, new byte[] { 0, 0, source, reason }, ct);

    public Task SendRejectAsync(AssociationRejection r, CancellationToken ct) =>
        SendPduAsync(PduType.AssociateReject, new byte[] { 0, r.Result, r.Source, r.Reason }, ct);

    /// <summary>Sends a command (implicit VR LE, PS3.7 §6.3.1) and its data set, split into PDVs that fit the peer's maximum PDU.</summary>
    public async Task SendMessageAsync(DimseMessage message, CancellationToken ct)
    {
        var command = EncodeCommand(message.Command);
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await SendFragmentsAsync(message.PresentationContextId, command, isCommand: true, ct).ConfigureAwait(false);
            if (message.Dataset is { } ds)
            {
                await SendFragmentsAsync(message.PresentationContextId, ds, isCommand: false, ct).ConfigureAwait(false);
            }

            await _stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task SendFragmentsAsync(byte pcId, ReadOnlyMemory<byte> data, bool isCommand, CancellationToken ct)
    {
        // A P-DATA-TF PDU of length L carries one PDV of L − 6 value bytes (4-byte item length + PC id + control header).
        int maxChunk = (int)Math.Min(PeerMaxPdu == 0 ? 1u << 20 : PeerMaxPdu, 1u << 20) - 6;
        int offset = 0;
        var header = new byte[12];
        do
        {
            int chunk = Math.Min(maxChunk, data.Length - offset);
            bool last = offset + chunk >= data.Length;
            header[0] = (byte)PduType.DataTransfer;
            header[1] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(2), (uint)(chunk + 6));
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(6), (uint)(chunk + 2));
            header[10] = pcId;
            header[11] = (byte)((isCommand ? 1 : 0) | (last ? 2 : 0));
            await _stream.WriteAsync(header, ct).ConfigureAwait(false);
            await _stream.WriteAsync(data.Slice(offset, chunk), ct).ConfigureAwait(false);
            offset += chunk;
        }
        while (offset < data.Length);
    }

    /// <summary>
    /// Reads P-DATA-TF PDUs until a complete message arrived. Returns null and hands back any
    /// non-data PDU (release, abort) through <paramref name="other"/>.
    /// </summary>
    public async Task<(DimseMessage? Message, Pdu? Other)> ReceiveMessageAsync(CancellationToken ct)
    {
        using var assembly = new MessageAssembly(MaxDatasetBytes);
        try
        {
            while (true)
            {
                var pdu = await ReceivePduAsync(ct).ConfigureAwait(false);
                if (pdu.Type != PduType.DataTransfer)
                {
                    if (assembly.Started)
                    {
                        pdu.Dispose();
                        throw new DicomProtocolViolationException($"{pdu.Type} PDU in the middle of a DIMSE message", abortReason: 2);
                    }

                    return (null, pdu);
                }

                using (pdu)
                {
                    if (assembly.Add(pdu.Body) is { } message)
                    {
                        return (message, null);
                    }
                }
            }
        }
        catch
        {
            assembly.DiscardDataset();
            throw;
        }
    }

    private static byte[] EncodeCommand(DicomDataset command)
    {
        var body = command.Clone();
        body.Remove(DicomTag.CommandGroupLength);
        long length = DicomDatasetWriter.Measure(body, DicomTransferSyntax.ImplicitVRLittleEndian);
        body.SetInt(DicomTag.CommandGroupLength, length);
        using var ms = new MemoryStream();
        DicomDatasetWriter.Write(ms, body, DicomTransferSyntax.ImplicitVRLittleEndian);
        return ms.ToArray();
    }

    private static DicomDataset DecodeCommand(MemoryStream command)
    {
        try
        {
            return DicomDatasetReader.Read(command.ToArray(), DicomTransferSyntax.ImplicitVRLittleEndian);
        }
        catch (DicomParseException ex)
        {
            throw new DicomProtocolViolationException($"unreadable DIMSE command set: {ex.Message}", abortReason: 6);
        }
    }

    private async Task ReadExactAsync(Memory<byte> buffer, CancellationToken ct)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await _stream.ReadAsync(buffer[read..], ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new DicomConnectionClosedException(read == 0 && buffer.Length == HeaderLength
                    ? "the peer closed the connection"
                    : $"the peer closed the connection mid-PDU ({read} of {buffer.Length} bytes)");
            }

            read += n;
        }
    }

    /// <summary>
    /// Reassembles one DIMSE message from the PDVs of successive P-DATA-TF PDUs (PS3.8 §9.3.5, Annex E): command
    /// fragments, then (unless the command says there is none) data set fragments, all on one presentation context.
    /// </summary>
    private sealed class MessageAssembly(long maxDatasetBytes) : IDisposable
    {
        private readonly MemoryStream _command = new();
        private MemoryStream? _dataset;
        private byte _pcId;
        private bool _commandDone;

        /// <summary>True once any fragment of the message has arrived.</summary>
        public bool Started => _command.Length > 0 || _dataset is not null;

        /// <summary>Adds the PDVs of one P-DATA-TF body; returns the message as soon as its last fragment is in (later PDVs of the PDU are not read).</summary>
        public DimseMessage? Add(ReadOnlySpan<byte> body)
        {
            int pos = 0;
            while (pos < body.Length)
            {
                if (body.Length - pos < 6)
                {
                    throw new DicomProtocolViolationException("truncated PDV item header", abortReason: 6);
                }

                uint itemLength = BinaryPrimitives.ReadUInt32BigEndian(body[pos..]);
                if (itemLength < 2 || itemLength > body.Length - pos - 4)
                {
                    throw new DicomProtocolViolationException($"PDV item length {itemLength} does not fit its P-DATA-TF PDU", abortReason: 6);
                }

                byte id = body[pos + 4];
                byte control = body[pos + 5];
                var value = body.Slice(pos + 6, (int)itemLength - 2);
                pos += 4 + (int)itemLength;
                if (_pcId != 0 && id != _pcId)
                {
                    throw new DicomProtocolViolationException($"PDV for presentation context {id} inside a message on context {_pcId}", abortReason: 6);
                }

                _pcId = id;
                var message = (control & 1) == 1 ? AddCommandFragment(value, control) : AddDatasetFragment(value, control);
                if (message is not null)
                {
                    return message;
                }
            }

            return null;
        }

        /// <summary>Releases a partly received data set when the message is abandoned (a completed message owns its buffer).</summary>
        public void DiscardDataset() => _dataset?.Dispose();

        public void Dispose() => _command.Dispose();

        private DimseMessage? AddCommandFragment(ReadOnlySpan<byte> value, byte control)
        {
            if (_commandDone)
            {
                throw new DicomProtocolViolationException("command fragment after the last command fragment", abortReason: 6);
            }

            _command.Write(value);
            if ((control & 2) == 2)
            {
                _commandDone = true;
                var cmd = DecodeCommand(_command);
                bool expectDataset = cmd.GetInt32(DicomTag.CommandDataSetType) != 0x0101;
                if (!expectDataset)
                {
                    return new DimseMessage(_pcId, cmd);
                }
            }

            return null;
        }

        private DimseMessage? AddDatasetFragment(ReadOnlySpan<byte> value, byte control)
        {
            if (!_commandDone)
            {
                throw new DicomProtocolViolationException("data set fragment before the command was complete", abortReason: 6);
            }

            _dataset ??= new MemoryStream();
            if (_dataset.Length + value.Length > maxDatasetBytes)
            {
                throw new DicomProtocolViolationException($"data set exceeds the {maxDatasetBytes}-byte limit", abortReason: 0);
            }

            _dataset.Write(value);
            if ((control & 2) == 2)
            {
                var cmd = DecodeCommand(_command);
                return new DimseMessage(_pcId, cmd, _dataset.GetBuffer().AsMemory(0, (int)_dataset.Length));
            }

            return null;
        }
    }
}
