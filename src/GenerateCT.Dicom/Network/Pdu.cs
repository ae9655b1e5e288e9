using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace GenerateCT.Dicom.Network;

/// <summary>Upper-layer PDU types (PS3.8 §9.3.1).</summary>
internal enum PduType : byte
{
    AssociateRequest = 0x01,
    AssociateAccept = 0x02,
    AssociateReject = 0x03,
    DataTransfer = 0x04,
    ReleaseRequest = 0x05,
    ReleaseResponse = 0x06,
    Abort = 0x07,
}

/// <summary>One received PDU: its type and body (pooled; dispose to return the buffer).</summary>
internal sealed class Pdu : IDisposable
{
    private byte[]? _rented;

    public Pdu(PduType type, byte[] rented, int length)
    {
        Type = type;
        _rented = rented;
        Length = length;
    }

    public PduType Type { get; }

    public int Length { get; }

    public ReadOnlySpan<byte> Body => _rented.AsSpan(0, Length);

    public ReadOnlyMemory<byte> BodyMemory => _rented.AsMemory(0, Length);

    public void Dispose()
    {
        if (_rented is { } r)
        {
            _rented = null;
            ArrayPool<byte>.Shared.Return(r);
        }
    }
}

/// <summary>A presentation context as proposed (several transfer syntaxes) or accepted (one), PS3.8 §9.3.2.2 / §9.3.3.2.</summary>
public sealed class PresentationContext
{
    public PresentationContext(byte id, string abstractSyntax, IReadOnlyList<string> transferSyntaxes)
    {
        Id = id;
        AbstractSyntax = abstractSyntax;
        TransferSyntaxes = transferSyntaxes;
    }

    public byte Id { get; }

    public string AbstractSyntax { get; }

    public IReadOnlyList<string> TransferSyntaxes { get; }

    public PresentationContextResult Result { get; internal set; } = PresentationContextResult.NoReason;

    public string? AcceptedTransferSyntax { get; internal set; }

    public bool IsAccepted => Result == PresentationContextResult.Acceptance && AcceptedTransferSyntax is not null;
}

/// <summary>Presentation context result/reason (PS3.8 table 9-18).</summary>
public enum PresentationContextResult : byte
{
    Acceptance = 0,
    UserRejection = 1,
    NoReason = 2,
    AbstractSyntaxNotSupported = 3,
    TransferSyntaxesNotSupported = 4,
}

/// <summary>A-ASSOCIATE-RJ result, source and reason (PS3.8 table 9-21).</summary>
public sealed record AssociationRejection(byte Result, byte Source, byte Reason)
{
    public static AssociationRejection CallingAeNotRecognized { get; } = new(1, 1, 3);

    public static AssociationRejection CalledAeNotRecognized { get; } = new(1, 1, 7);

    public static AssociationRejection NoReasonGiven { get; } = new(1, 1, 1);

    public static AssociationRejection ApplicationContextNotSupported { get; } = new(1, 1, 2);

    public static AssociationRejection ProtocolVersionNotSupported { get; } = new(1, 2, 2);

    public static AssociationRejection LocalLimitExceeded { get; } = new(2, 3, 2);

    public override string ToString() => (Source, Reason) switch
    {
        (1, 1) => "rejected by the called AE: no reason given",
        (1, 2) => "rejected: application context name not supported",
        (1, 3) => "rejected: calling AE title not recognized (not on the allow-list)",
        (1, 7) => "rejected: called AE title not recognized",
        (2, 2) => "rejected: protocol version not supported",
        (3, 1) => "rejected transiently: temporary congestion",
        (3, 2) => "rejected transiently: local limit exceeded (too many associations)",
        _ => $"rejected (result {Result}, source {Source}, reason {Reason})",
    } + (Result == 2 ? " [transient]" : " [permanent]");
}

/// <summary>A-ASSOCIATE-RQ / -AC contents (PS3.8 §9.3.2, §9.3.3; user information PS3.7 Annex D.3.3).</summary>
internal sealed class AssociationParameters
{
    public string CalledAeTitle { get; set; } = string.Empty;

    public string CallingAeTitle { get; set; } = string.Empty;

    public string ApplicationContext { get; set; } = DicomUid.ApplicationContext;

    public List<PresentationContext> PresentationContexts { get; } = [];

    /// <summary>Largest P-DATA-TF PDU the sender of this PDU can receive (0 = unlimited).</summary>
    public uint MaxPduLength { get; set; }

    public string ImplementationClassUid { get; set; } = DicomUid.ImplementationClassUid;

    public string? ImplementationVersionName { get; set; } = DicomUid.ImplementationVersionName;

    /// <summary>Asynchronous operations window, if negotiated (we always answer 1/1: synchronous).</summary>
    public (ushort Invoked, ushort Performed)? AsyncOperations { get; set; }

    public ushort ProtocolVersion { get; set; } = 1;

    public byte[] Encode(PduType type)
    {
        using var body = new MemoryStream();
        Span<byte> fixedPart = stackalloc byte[68];
        fixedPart.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(fixedPart, ProtocolVersion);
        WriteAe(fixedPart.Slice(4, 16), CalledAeTitle);
        WriteAe(fixedPart.Slice(20, 16), CallingAeTitle);
        body.Write(fixedPart);
        WriteItem(body, 0x10, Encoding.ASCII.GetBytes(ApplicationContext));
        foreach (var pc in PresentationContexts)
        {
            using var pcBody = new MemoryStream();
            if (type == PduType.AssociateRequest)
            {
                pcBody.Write([pc.Id, 0, 0, 0]);
                WriteItem(pcBody, 0x30, Encoding.ASCII.GetBytes(pc.AbstractSyntax));
                foreach (var ts in pc.TransferSyntaxes)
                {
                    WriteItem(pcBody, 0x40, Encoding.ASCII.GetBytes(ts));
                }

                WriteItem(body, 0x20, pcBody.ToArray());
            }
            else
            {
                pcBody.Write([pc.Id, 0, (byte)pc.Result, 0]);
                // The transfer syntax sub-item is present but not significant when rejected (§9.3.3.2).
                WriteItem(pcBody, 0x40, Encoding.ASCII.GetBytes(pc.AcceptedTransferSyntax ?? DicomTransferSyntax.ImplicitVRLittleEndian.Uid));
                WriteItem(body, 0x21, pcBody.ToArray());
            }
        }

        using var user = new MemoryStream();
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(four, MaxPduLength);
        WriteItem(user, 0x51, four.ToArray());
        WriteItem(user, 0x52, Encoding.ASCII.GetBytes(ImplementationClassUid));
        if (AsyncOperations is { } ops)
        {
            BinaryPrimitives.WriteUInt16BigEndian(four, ops.Invoked);
            BinaryPrimitives.WriteUInt16BigEndian(four[2..], ops.Performed);
            WriteItem(user, 0x53, four.ToArray());
        }

        if (!string.IsNullOrEmpty(ImplementationVersionName))
        {
            WriteItem(user, 0x55, Encoding.ASCII.GetBytes(ImplementationVersionName));
        }

        WriteItem(body, 0x50, user.ToArray());
        return body.ToArray();
    }

    public static AssociationParameters Decode(ReadOnlySpan<byte> body, PduType type)
    {
        if (body.Length < 68)
        {
            throw new DicomNetworkException($"A-ASSOCIATE PDU body of {body.Length} bytes is shorter than its 68-byte fixed part (PS3.8 §9.3.2)");
        }

        var p = new AssociationParameters
        {
            ProtocolVersion = BinaryPrimitives.ReadUInt16BigEndian(body),
            CalledAeTitle = ReadAe(body.Slice(4, 16)),
            CallingAeTitle = ReadAe(body.Slice(20, 16)),
        };
        int pos = 68;
        while (pos < body.Length)
        {
            var itemType = ReadItem(body, ref pos, out var item);
            switch (itemType)
            {
                case 0x10:
                    p.ApplicationContext = Ascii(item);
                    break;
                case 0x20 when type == PduType.AssociateRequest:
                    p.PresentationContexts.Add(DecodeProposedContext(item));
                    break;
                case 0x21 when type == PduType.AssociateAccept:
                    p.PresentationContexts.Add(DecodeContextResult(item));
                    break;
                case 0x50:
                    DecodeUserInformation(item, p);
                    break;
            }
        }

        return p;
    }

    /// <summary>A presentation context item of an A-ASSOCIATE-RQ (PS3.8 §9.3.2.2): id, abstract syntax, proposed transfer syntaxes.</summary>
    private static PresentationContext DecodeProposedContext(ReadOnlySpan<byte> item)
    {
        if (item.Length < 4)
        {
            throw new DicomNetworkException("presentation context item too short");
        }

        byte id = item[0];
        int ip = 4;
        string abstractSyntax = string.Empty;
        var syntaxes = new List<string>();
        while (ip < item.Length)
        {
            var subType = ReadItem(item, ref ip, out var sub);
            if (subType == 0x30)
            {
                abstractSyntax = Ascii(sub);
            }
            else if (subType == 0x40)
            {
                syntaxes.Add(Ascii(sub));
            }
        }

        return new PresentationContext(id, abstractSyntax, syntaxes);
    }

    /// <summary>A presentation context item of an A-ASSOCIATE-AC (PS3.8 §9.3.3.2): id, result and the accepted transfer syntax.</summary>
    private static PresentationContext DecodeContextResult(ReadOnlySpan<byte> item)
    {
        if (item.Length < 4)
        {
            throw new DicomNetworkException("presentation context item too short");
        }

        int ip = 4;
        string? ts = null;
        while (ip < item.Length)
        {
            var subType = ReadItem(item, ref ip, out var sub);
            if (subType == 0x40)
            {
                ts = Ascii(sub);
            }
        }

        var pc = new PresentationContext(item[0], string.Empty, ts is null ? [] : [ts])
        {
            Result = (PresentationContextResult)item[2],
        };
        pc.AcceptedTransferSyntax = pc.Result == PresentationContextResult.Acceptance ? ts : null;
        return pc;
    }

    /// <summary>The user information item (PS3.7 Annex D): maximum length, implementation class and version, asynchronous operations window.</summary>
    private static void DecodeUserInformation(ReadOnlySpan<byte> item, AssociationParameters p)
    {
        int up = 0;
        while (up < item.Length)
        {
            var subType = ReadItem(item, ref up, out var sub);
            switch (subType)
            {
                case 0x51 when sub.Length == 4: p.MaxPduLength = BinaryPrimitives.ReadUInt32BigEndian(sub); break;
                case 0x52: p.ImplementationClassUid = Ascii(sub); break;
                case 0x53 when sub.Length == 4: p.AsyncOperations = (BinaryPrimitives.ReadUInt16BigEndian(sub), BinaryPrimitives.ReadUInt16BigEndian(sub[2..])); break;
                case 0x55: p.ImplementationVersionName = Ascii(sub); break;
            }
        }
    }

    private static byte ReadItem(ReadOnlySpan<byte> data, ref int pos, out ReadOnlySpan<byte> body)
    {
        if (data.Length - pos < 4)
        {
            throw new DicomNetworkException($"truncated item header at offset {pos} of an A-ASSOCIATE PDU");
        }

        byte type = data[pos];
        int len = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
        if (len > data.Length - pos - 4)
        {
            throw new DicomNetworkException($"item 0x{type:X2} at offset {pos} declares {len} bytes, only {data.Length - pos - 4} remain");
        }

        body = data.Slice(pos + 4, len);
        pos += 4 + len;
        return type;
    }

    private static void WriteItem(Stream s, byte type, byte[] body)
    {
        if (body.Length > ushort.MaxValue)
        {
            throw new ArgumentException("A-ASSOCIATE item too long");
        }

        s.Write([type, 0, (byte)(body.Length >> 8), (byte)body.Length]);
        s.Write(body);
    }

    private static string Ascii(ReadOnlySpan<byte> b) => Encoding.ASCII.GetString(b).TrimEnd('\0', ' ');

    private static string ReadAe(ReadOnlySpan<byte> b) => Encoding.ASCII.GetString(b).Trim(' ', '\0');

    private static void WriteAe(Span<byte> dst, string ae)
    {
        dst.Fill((byte)' ');
        Encoding.ASCII.GetBytes(ae.AsSpan(0, Math.Min(16, ae.Length)), dst);
    }
}
