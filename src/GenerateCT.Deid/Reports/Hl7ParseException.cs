namespace GenerateCT.Deid.Reports;

/// <summary>The bytes received are not an HL7 v2 message; answered with AR.</summary>
public sealed class Hl7ParseException(string message) : DeidException(message);
