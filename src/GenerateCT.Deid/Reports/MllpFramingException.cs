namespace GenerateCT.Deid.Reports;

/// <summary>A peer broke MLLP framing (HL7 v2.5.1 Appendix C.4.3).</summary>
public sealed class MllpFramingException(string message) : DeidException(message);
