namespace GenerateCT.Imaging;

/// <summary>The root of every error GenerateCT.Imaging raises on purpose (today: unreadable NIfTI files); the message says what to do.</summary>
public abstract class ImagingException(string message) : Exception(message);
