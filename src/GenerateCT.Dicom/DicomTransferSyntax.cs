namespace GenerateCT.Dicom;

/// <summary>A transfer syntax (PS3.5 §10, Annex A) and what this implementation can do with it.</summary>
public sealed class DicomTransferSyntax : IEquatable<DicomTransferSyntax>
{
    private DicomTransferSyntax(string uid, string name, bool explicitVR, bool bigEndian, bool deflated, bool encapsulated, bool decodable)
    {
        Uid = uid;
        Name = name;
        IsExplicitVR = explicitVR;
        IsBigEndian = bigEndian;
        IsDeflated = deflated;
        IsEncapsulated = encapsulated;
        CanDecode = decodable;
    }

    public string Uid { get; }

    public string Name { get; }

    public bool IsExplicitVR { get; }

    public bool IsBigEndian { get; }

    public bool IsDeflated { get; }

    /// <summary>Pixel data is encapsulated in fragments (PS3.5 §A.4).</summary>
    public bool IsEncapsulated { get; }

    /// <summary>We can read the data set and decode its pixel data to native values.</summary>
    public bool CanDecode { get; }

    public static readonly DicomTransferSyntax ImplicitVRLittleEndian = new("1.2.840.10008.1.2", "Implicit VR Little Endian", false, false, false, false, true);
    public static readonly DicomTransferSyntax ExplicitVRLittleEndian = new("1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false, false, false, true);
    public static readonly DicomTransferSyntax DeflatedExplicitVRLittleEndian = new("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true, false, true, false, true);
    public static readonly DicomTransferSyntax ExplicitVRBigEndian = new("1.2.840.10008.1.2.2", "Explicit VR Big Endian (retired)", true, true, false, false, true);
    public static readonly DicomTransferSyntax RLELossless = new("1.2.840.10008.1.2.5", "RLE Lossless", true, false, false, true, true);
    public static readonly DicomTransferSyntax JPEGLosslessSV1 = new("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 SV1)", true, false, false, true, true);

    private static readonly DicomTransferSyntax[] Known =
    [
        ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless, JPEGLosslessSV1,
        new("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless Only", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.91", "JPEG 2000", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless Only", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false, false, true, false),
        new("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", true, false, false, true, false),
    ];

    /// <summary>Syntaxes whose pixel data we can decode: the only ones our SCP accepts, so a PACS transcodes others.</summary>
    public static IReadOnlyList<DicomTransferSyntax> Decodable { get; } = [.. Known.Where(t => t.CanDecode)];

    /// <summary>The syntax for a UID; unknown UIDs are assumed to be encapsulated Explicit VR LE (PS3.5 §10) and not decodable.</summary>
    public static DicomTransferSyntax Lookup(string uid)
    {
        var clean = uid.TrimEnd('\0', ' ');
        return Known.FirstOrDefault(t => t.Uid == clean) ?? new DicomTransferSyntax(clean, $"unknown transfer syntax {clean}", true, false, false, true, false);
    }

    public bool Equals(DicomTransferSyntax? other) => other is not null && other.Uid == Uid;

    public override bool Equals(object? obj) => Equals(obj as DicomTransferSyntax);

    public override int GetHashCode() => Uid.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => $"{Name} ({Uid})";
}
