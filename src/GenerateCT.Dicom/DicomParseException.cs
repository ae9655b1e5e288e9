namespace GenerateCT.Dicom;

/// <summary>
/// The bytes are not a valid DICOM data set or file. The message names the element and byte offset,
/// e.g. "truncated element (0028,0010) at offset 812"; the caller should refuse (quarantine) the input.
/// </summary>
public class DicomParseException : Exception
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

/// <summary>The data is valid DICOM but uses something we do not implement (e.g. a JPEG 2000 transfer syntax).</summary>
public class DicomNotSupportedException : Exception
{
    public DicomNotSupportedException(string message)
        : base(message)
    {
    }
}
