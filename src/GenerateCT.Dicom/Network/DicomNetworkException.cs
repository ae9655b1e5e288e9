namespace GenerateCT.Dicom.Network;

/// <summary>The association or the DICOM upper layer protocol failed (peer aborted, rejected, bad PDU, timeout).</summary>
public class DicomNetworkException : DicomException
{
    public DicomNetworkException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
