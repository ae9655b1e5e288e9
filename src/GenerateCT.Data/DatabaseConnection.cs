namespace GenerateCT.Data;

/// <summary>
/// The database a host uses: the configured connection string, or else the embedded private cluster
/// in the host's data directory (started here, stopped on dispose).
/// </summary>
public sealed class DatabaseConnection : IAsyncDisposable
{
    private readonly PostgresCluster? _embedded;

    private DatabaseConnection(string connectionString, PostgresCluster? embedded)
    {
        ConnectionString = connectionString;
        _embedded = embedded;
    }

    public string ConnectionString { get; }

    /// <summary>True when the host runs its own private cluster.</summary>
    public bool IsEmbedded => _embedded is not null;

    public static async Task<DatabaseConnection> OpenAsync(string? connectionString, string dataDirectory, CancellationToken cancellationToken = default)
    {
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            return new DatabaseConnection(connectionString, null);
        }

        var cluster = await PostgresCluster.StartAsync(
            new PostgresClusterOptions { Directory = Path.Combine(dataDirectory, "postgres") },
            cancellationToken);
        return new DatabaseConnection(cluster.ConnectionString, cluster);
    }

    public async ValueTask DisposeAsync()
    {
        if (_embedded is not null)
        {
            await _embedded.DisposeAsync();
        }
    }
}
