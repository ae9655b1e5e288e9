namespace GenerateCT.Deid.Keys;

/// <summary>The site secret file cannot be used as it is; the message says what to change.</summary>
public sealed class SiteSecretException(string message) : DeidException(message);
