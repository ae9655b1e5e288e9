namespace GenerateCT.Deid;

/// <summary>
/// The root of every error GenerateCT.Deid raises on purpose: a refused instance, a broken HL7/MLLP
/// exchange, an unusable pseudonym table or site secret. The message says what to do; catch a derived
/// type to decide how to answer.
/// </summary>
public abstract class DeidException(string message) : Exception(message);
