namespace GenerateCT.Dicom;

/// <summary>Limits that keep a hostile or broken input from exhausting the appliance.</summary>
public sealed class DicomReadOptions
{
    public static DicomReadOptions Default { get; } = new();

    /// <summary>Deepest sequence nesting accepted (real CT rarely exceeds 4).</summary>
    public int MaxSequenceDepth { get; init; } = 32;

    /// <summary>Largest data set after inflating Deflated Explicit VR Little Endian (a deflate bomb stops here).</summary>
    public long MaxInflatedBytes { get; init; } = 1L << 30;
}
