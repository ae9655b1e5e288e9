namespace GenerateCT.Dicom;

/// <summary>
/// The root of every error GenerateCT.Dicom raises on purpose: bad input (<see cref="DicomParseException"/>),
/// unimplemented features (<see cref="DicomNotSupportedException"/>) and network failures
/// (<see cref="Network.DicomNetworkException"/>). Catch a derived type to decide what to do.
/// </summary>
public abstract class DicomException : Exception
{
    protected DicomException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
