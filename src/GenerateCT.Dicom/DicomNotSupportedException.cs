namespace GenerateCT.Dicom;

/// <summary>The data is valid DICOM but uses something we do not implement (e.g. a JPEG 2000 transfer syntax).</summary>
public class DicomNotSupportedException : DicomException
{
    public DicomNotSupportedException(string message)
        : base(message)
    {
    }
}
