namespace GenerateCT.Data;

/// <summary>Where and how a private PostgreSQL cluster is created (the embedded default database).</summary>
public sealed class PostgresClusterOptions
{
    /// <summary>Folder that holds the cluster (data/, run/, log and password). Created if missing.</summary>
    public required string Directory { get; init; }

    /// <summary>Database to create inside the cluster.</summary>
    public string Database { get; init; } = "generatect";

    /// <summary>TCP port on 127.0.0.1; 0 picks a free one at each start.</summary>
    public int Port { get; init; }

    /// <summary>PostgreSQL server binaries; null finds the newest /usr/lib/postgresql/N/bin.</summary>
    public string? BinDirectory { get; init; }

    /// <summary>Remove the whole directory on dispose (tests); false keeps the data (the node's store).</summary>
    public bool DeleteOnDispose { get; init; }

    /// <summary>How long to wait for the server to accept connections.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
