using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace GenerateCT.Data;

/// <summary>
/// The one database of a running host (node, coordinator), a DI singleton: opened once before the
/// host's services start (the configured server, or the embedded private cluster), migrated as its
/// owner, then served to the services as one <see cref="NpgsqlDataSource"/> for the host's runtime
/// role. Disposing it closes the data source and stops an embedded cluster.
/// </summary>
public sealed class HostDatabase : IAsyncDisposable
{
    private DatabaseConnection? _owner;
    private NpgsqlDataSource? _dataSource;

    /// <summary>Connection as the database owner (migrations, administration).</summary>
    public string OwnerConnectionString => Owner.ConnectionString;

    /// <summary>Connection as the role the host's services run as.</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>The data source the host's services use (its runtime role).</summary>
    public NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("the host's database is not open yet");

    private DatabaseConnection Owner => _owner ?? throw new InvalidOperationException("the host's database is not open yet");

    /// <summary>Opens the database, then runs <paramref name="prepare"/> as its owner (migrations, roles), which returns the runtime connection string.</summary>
    /// <param name="connectionString">Configured PostgreSQL connection string; empty = the embedded private cluster in <paramref name="dataDirectory"/>.</param>
    public async Task OpenAsync(
        string? connectionString,
        string dataDirectory,
        Func<string, CancellationToken, Task<string>> prepare,
        CancellationToken cancellationToken)
    {
        if (_owner is not null)
        {
            throw new InvalidOperationException("the host's database is already open");
        }

        _owner = await DatabaseConnection.OpenAsync(connectionString, dataDirectory, cancellationToken);
        ConnectionString = await prepare(_owner.ConnectionString, cancellationToken);
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }

        if (_owner is not null)
        {
            await _owner.DisposeAsync();
        }
    }
}

/// <summary>Registers a host's database: <see cref="HostDatabase"/>, its data source and the EF Core context factory on it.</summary>
public static class HostDatabaseRegistration
{
    public static IServiceCollection AddHostDatabase<TContext>(this IServiceCollection services)
        where TContext : DbContext
    {
        services.AddSingleton<HostDatabase>();
        services.AddSingleton(sp => sp.GetRequiredService<HostDatabase>().DataSource);
        services.AddSingleton<DbDataSource>(sp => sp.GetRequiredService<NpgsqlDataSource>());
        services.AddDbContextFactory<TContext>((sp, options) => options.UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>()));
        return services;
    }
}
