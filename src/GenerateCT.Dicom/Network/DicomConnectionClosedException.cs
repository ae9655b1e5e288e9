namespace GenerateCT.Dicom.Network;

/// <summary>The transport closed (orderly after release, or abruptly).</summary>
internal sealed class DicomConnectionClosedException(string message) : DicomNetworkException(message);
