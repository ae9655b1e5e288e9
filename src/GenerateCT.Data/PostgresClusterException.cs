namespace GenerateCT.Data;

/// <summary>The private PostgreSQL cluster could not be created, started or stopped; the message says why.</summary>
/// <remarks>The root exception type of GenerateCT.Data.</remarks>
public sealed class PostgresClusterException(string message) : Exception(message);
