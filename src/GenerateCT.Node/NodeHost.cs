using System.Net;
using System.Security.Cryptography.X509Certificates;
using GenerateCT.Data;
using GenerateCT.Data.Node;
using GenerateCT.Deid.Datasets;
using GenerateCT.Federation.Hosting;
using GenerateCT.Node.Ingest;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node;

/// <summary>
/// The hospital node: an ASP.NET Core host serving gRPC over TLS on its PostgreSQL database
/// (the embedded private cluster unless a connection string is configured), migrations applied at start.
/// </summary>
public sealed class NodeHost : IAsyncDisposable
{
    private readonly GrpcServiceHost _server;
    private readonly DatabaseConnection _database;

    private NodeHost(GrpcServiceHost server, DatabaseConnection database, NodeOptions options)
    {
        _server = server;
        _database = database;
        Options = options;
    }

    public NodeOptions Options { get; }

    /// <summary>The certificate gRPC is served with (clients of a self-signed install pin it).</summary>
    public X509Certificate2 Certificate => _server.Certificate;

    public Uri GrpcAddress => _server.GrpcAddress;

    public string DatabaseConnectionString => _database.ConnectionString;

    /// <summary>Binds section "Node" of <paramref name="configuration"/>, validates it, and starts the node.</summary>
    public static async Task<NodeHost> StartAsync(IConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var options = new NodeOptions();
        configuration.GetSection(NodeOptions.Section).Bind(options);
        options.Validate();
        var ingestOptions = new IngestOptions();
        configuration.GetSection(IngestOptions.Section).Bind(ingestOptions);
        ingestOptions.Validate();
        Directory.CreateDirectory(options.DataDirectory);
        var certificate = options.Tls.LoadOrCreate(options.DataDirectory, "node");

        var database = await DatabaseConnection.OpenAsync(options.ConnectionString, options.DataDirectory, cancellationToken);
        try
        {
            await DatabaseSchema.MigrateNodeAsync(database.ConnectionString, cancellationToken);
            var serviceConnection = await NodeServiceRole.EnsureAsync(
                database.ConnectionString, Path.Combine(options.DataDirectory, "secrets", "database-service.password"), cancellationToken);
            var profile = new DeidentificationProfile();
            configuration.GetSection(NodeOptions.Section + ":Deidentification").Bind(profile);
            var registerIngest = await IngestRegistration.PrepareAsync(options, ingestOptions, profile, certificate, serviceConnection, cancellationToken);
            var server = await GrpcServiceHost.StartAsync(
                configuration,
                IPAddress.Parse(options.GrpcAddress),
                options.GrpcPort,
                certificate,
                database.PingAsync,
                builder =>
                {
                    builder.Services.AddSingleton(options);
                    registerIngest(builder.Services);
                },
                _ => { },
                cancellationToken);
            return new NodeHost(server, database, options);
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
