namespace GenerateCT.Dicom.Network;

/// <summary>The data set parsed but contradicts its C-STORE command (status 0xA900).</summary>
public sealed class DicomDatasetMismatchException(string message) : DicomParseException(message);
