namespace GenerateCT.Deid.Keys;

/// <summary>The pseudonym table file cannot be read; the message says why.</summary>
public sealed class PseudonymTableException(string message) : DeidException(message);
