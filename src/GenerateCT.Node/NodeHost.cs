using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Node;
using GenerateCT.Deid.Datasets;
using GenerateCT.Federation.Hosting;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Ingest;
using GenerateCT.Node.Security;
using GenerateCT.Node.Services;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Node;

/// <summary>
/// The hospital node: an ASP.NET Core host serving gRPC over TLS on its PostgreSQL database
/// (the embedded private cluster unless a connection string is configured), migrations applied at start.
/// </summary>
/// <remarks>
/// Migrations run as the database owner; everything after runs as the node's service role
/// (<see cref="NodeServiceRole"/>), which cannot alter the audit trail. Every gRPC method except
/// health requires a bearer token with a role (<see cref="NodePolicies"/>), and every call that
/// presents one, or is refused, is a row of the audit chain.
/// </remarks>
public sealed class NodeHost : IAsyncDisposable
{
    private readonly GrpcServiceHost _server;
    private readonly DatabaseConnection _database;

    private NodeHost(GrpcServiceHost server, DatabaseConnection database, NodeOptions options, string serviceConnectionString)
    {
        _server = server;
        _database = database;
        Options = options;
        ServiceConnectionString = serviceConnectionString;
    }

    public NodeOptions Options { get; }

    /// <summary>The certificate gRPC is served with (clients of a self-signed install pin it).</summary>
    public X509Certificate2 Certificate => _server.Certificate;

    public Uri GrpcAddress => _server.GrpcAddress;

    /// <summary>Connection as the database owner (migrations, administration).</summary>
    public string DatabaseConnectionString => _database.ConnectionString;

    /// <summary>The bound DICOM port (resolves a configured 0).</summary>
    public int DicomPort => _server.Services.GetRequiredService<DicomIngestService>().Port;

    /// <summary>The bound HL7 MLLP port, or null when HL7 ingest is off.</summary>
    public int? Hl7Port => _server.Services.GetService<Hl7IngestService>()?.Port;

    /// <summary>Connection as the node's service role, which the running node uses.</summary>
    public string ServiceConnectionString { get; }

    /// <summary>Where the service role's password is kept (mode 0600).</summary>
    public static string ServiceRolePasswordFile(string dataDirectory) => Path.Combine(dataDirectory, "database-service.password");

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
            var serviceConnection = await NodeServiceRole.EnsureAsync(database.ConnectionString, ServiceRolePasswordFile(options.DataDirectory), cancellationToken);
            var trail = new AuditTrail(serviceConnection);
            var runtime = new NodeRuntime(DateTimeOffset.UtcNow, serviceConnection);
            var profile = new DeidentificationProfile();
            configuration.GetSection(NodeOptions.Section + ":Deidentification").Bind(profile);
            var registerIngest = await IngestRegistration.PrepareAsync(options, ingestOptions, profile, certificate, serviceConnection, trail, cancellationToken);
            var server = await GrpcServiceHost.StartAsync(
                configuration,
                IPAddress.Parse(options.GrpcAddress),
                options.GrpcPort,
                certificate,
                database.PingAsync,
                builder =>
                {
                    builder.Services.AddSingleton(options);
                    // Anonymous health probes are expected; their "not authenticated" notes are noise.
                    builder.Logging.AddFilter("GenerateCT.Node.Security.NoIdentityProviderHandler", LogLevel.Warning);
                    builder.Services.AddSingleton(runtime);
                    builder.Services.AddSingleton(trail);
                    registerIngest(builder.Services);
                    RegisterGeneration(builder.Services, options, serviceConnection);
                    builder.AddNodeAuthentication(options);
                    builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, DeniedCallAudit>();
                    builder.Services.AddSingleton<CallAuditInterceptor>();
                    builder.Services.AddSingleton<ExpensiveCallLimiter>();
                    builder.Services.Configure<GrpcServiceOptions>(o =>
                    {
                        // Order matters: auditing is outermost so that rate-limited calls are recorded too.
                        o.Interceptors.Add<CallAuditInterceptor>();
                        o.Interceptors.Add<ExpensiveCallLimiter>();
                    });
                },
                app =>
                {
                    app.UseAuthentication();
                    app.UseAuthorization();
                    app.MapGrpcService<NodeAdminService>();
                    app.MapGrpcService<GenerationService>();
                },
                cancellationToken);
            await trail.AppendAsync(
                new AuditEntry("system", "node:start", "success", JsonSerializer.Serialize(new
                {
                    grpcPort = server.GrpcAddress.Port,
                    identityProvider = options.Identity.IsConfigured ? options.Identity.Authority ?? options.Identity.Instance : null,
                    expensiveCallsPerMinute = options.RateLimit.ExpensiveCallsPerMinute,
                })),
                cancellationToken);
            return new NodeHost(server, database, options, serviceConnection);
        }
        catch
        {
            await database.DisposeAsync();
            throw;
        }
    }

    /// <summary>Researchers' generation jobs: the models, the job table, the output tree, the worker.</summary>
    private static void RegisterGeneration(IServiceCollection services, NodeOptions options, string connectionString)
    {
        services.AddSingleton(options.Generation);
        services.AddSingleton<GenerationModels>();
        services.AddSingleton(new GenerationJobStore(connectionString));
        services.AddSingleton(new JobOutputFiles(options.Generation.OutputRoot(options.DataDirectory)));
        services.AddSingleton<JobProgressHub>();
        services.AddSingleton<GenerationWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<GenerationWorker>());
    }

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl+C or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _server.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _database.DisposeAsync();
    }
}
