namespace GenerateCT.Imaging.Nifti;

/// <summary>A file is not a NIfTI-1 volume this reader understands; the message says what to do.</summary>
public sealed class NiftiFormatException(string message) : ImagingException(message);
