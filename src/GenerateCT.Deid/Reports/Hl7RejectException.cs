namespace GenerateCT.Deid.Reports;

/// <summary>Thrown by a message handler to reject a message it will never accept (answered AR); any other exception is answered AE.</summary>
public sealed class Hl7RejectException(string message) : DeidException(message);
