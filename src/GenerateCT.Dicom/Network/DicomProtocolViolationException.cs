namespace GenerateCT.Dicom.Network;

/// <summary>The peer broke the upper-layer protocol; we answer with A-ABORT (PS3.8 §9.3.8, reason in table 9-26).</summary>
internal sealed class DicomProtocolViolationException(string message, byte abortReason) : DicomNetworkException(message)
{
    public byte AbortReason { get; } = abortReason;
}
