using Xunit;
using GenerateCT.Data;

namespace GenerateCT.Testing;

/// <summary>
/// xunit fixture: a private PostgreSQL cluster (initdb in a temp directory, own port, unix socket)
/// for the lifetime of a test class or collection, removed afterwards. Never a mock.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresCluster? _cluster;

    public PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("cluster not started");

    /// <summary>A fresh, empty database in the cluster, for tests that must not share state.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null)
    {
        name ??= "t_" + Guid.NewGuid().ToString("N")[..12];
        await using var conn = new Npgsql.NpgsqlConnection(Cluster.ConnectionStringFor("postgres"));
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
        await cmd.ExecuteNonQueryAsync();
        return Cluster.ConnectionStringFor(name);
    }

    public async Task InitializeAsync()
    {
        _cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
        {
            Directory = Scratch.NewDirectory("gct-pg"),
            DeleteOnDispose = true,
        });
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
