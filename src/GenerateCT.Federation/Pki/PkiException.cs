namespace GenerateCT.Federation.Pki;

/// <summary>
/// A federation PKI operation that cannot be done as asked: a missing or damaged CA directory or kit,
/// a name already issued, an unknown serial. The message says what to do instead.
/// </summary>
public sealed class PkiException(string message, Exception? inner = null) : Exception(message, inner);
