using System.Net;
using System.Security.Cryptography.X509Certificates;
using GenerateCT.Data;
using GenerateCT.Federation.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Coordinator;

/// <summary>
/// The federation coordinator: an ASP.NET Core host serving gRPC over TLS on its PostgreSQL database
/// (the embedded private cluster unless a connection string is configured), migrations applied at start.
/// </summary>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly GrpcServiceHost _server;
    private readonly DatabaseConnection _database;

    private CoordinatorHost(GrpcServiceHost server, DatabaseConnection database, CoordinatorOptions options)
    {
        _server = server;
        _database = database;
        Options = options;
    }

    public CoordinatorOptions Options { get; }

    /// <summary>The certificate gRPC is served with (clients of a self-signed install pin it).</summary>
    public X509Certificate2 Certificate => _server.Certificate;

    public Uri GrpcAddress => _server.GrpcAddress;

    public string DatabaseConnectionString => _database.ConnectionString;

    /// <summary>Binds section "Coordinator" of <paramref name="configuration"/>, validates it, and starts the coordinator.</summary>
    public static async Task<CoordinatorHost> StartAsync(IConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var options = new CoordinatorOptions();
        configuration.GetSection(CoordinatorOptions.Section).Bind(options);
        options.Validate();
        Directory.CreateDirectory(options.DataDirectory);
        var certificate = options.Tls.LoadOrCreate(options.DataDirectory, "coordinator");

        var database = await DatabaseConnection.OpenAsync(options.ConnectionString, options.DataDirectory, cancellationToken);
        try
        {
            await DatabaseSchema.MigrateCoordinatorAsync(database.ConnectionString, cancellationToken);
            var server = await GrpcServiceHost.StartAsync(
                configuration,
                IPAddress.Parse(options.GrpcAddress),
                options.GrpcPort,
                certificate,
                database.PingAsync,
                builder => builder.Services.AddSingleton(options),
                _ => { },
                cancellationToken);
            return new CoordinatorHost(server, database, options);
        }
        catch
        {
            await database.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl+C or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _server.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _database.DisposeAsync();
    }
}
