namespace GenerateCT.Dicom;

/// <summary>
/// The bytes are not a valid DICOM data set or file. The message names the element and byte offset,
/// e.g. "truncated element (0028,0010) at offset 812"; the caller should refuse (quarantine) the input.
/// </summary>
public class DicomParseException : DicomException
{
    public DicomParseException(string message, long offset = -1, DicomTag? tag = null, Exception? inner = null)
        : base(message, inner)
    {
        Offset = offset;
        Tag = tag;
    }

    /// <summary>Byte offset of the problem in the input, or -1.</summary>
    public long Offset { get; }

    public DicomTag? Tag { get; }
}
