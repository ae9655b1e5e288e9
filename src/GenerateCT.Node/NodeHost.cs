using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Node;
using GenerateCT.Hosting;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Federation;
using GenerateCT.Node.Ingest;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Security;
using GenerateCT.Node.Services;
using GenerateCT.Node.Training;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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
    private readonly GrpcHost _host;

    private NodeHost(GrpcHost host) => _host = host;

    public NodeOptions Options => _host.Services.GetRequiredService<IOptions<NodeOptions>>().Value;

    /// <summary>The certificate gRPC is served with (clients of a self-signed install pin it).</summary>
    public X509Certificate2 Certificate => _host.Certificate;

    public Uri GrpcAddress => _host.GrpcAddress;

    /// <summary>Connection as the database owner (migrations, administration).</summary>
    public string DatabaseConnectionString => Database.OwnerConnectionString;

    /// <summary>The bound DICOM port (resolves a configured 0).</summary>
    public int DicomPort => _host.Services.GetRequiredService<DicomIngestService>().Port;

    /// <summary>The bound HL7 MLLP port, or null when HL7 ingest is off.</summary>
    public int? Hl7Port => _host.Services.GetRequiredService<Hl7IngestService>() is { IsListening: true } hl7 ? hl7.Port : null;

    /// <summary>Connection as the node's service role, which the running node uses.</summary>
    public string ServiceConnectionString => Database.ConnectionString;

    /// <summary>The node's services (tests reach the federation parts through them).</summary>
    internal IServiceProvider Services => _host.Services;

    private HostDatabase Database => _host.Services.GetRequiredService<HostDatabase>();

    /// <summary>Where the service role's password is kept (mode 0600).</summary>
    public static string ServiceRolePasswordFile(string dataDirectory) => Path.Combine(dataDirectory, "database-service.password");

    /// <summary>Binds section "Node" of <paramref name="configuration"/>, validates it, and starts the node.</summary>
    public static Task<NodeHost> StartAsync(IConfiguration configuration, CancellationToken cancellationToken = default) =>
        StartAsync(configuration, _ => { }, cancellationToken);

    /// <summary>As <see cref="StartAsync(IConfiguration, CancellationToken)"/>, with <paramref name="addServices"/> run last on the node's services (tests: interceptors on the coordinator calls).</summary>
    internal static async Task<NodeHost> StartAsync(IConfiguration configuration, Action<IServiceCollection> addServices, CancellationToken cancellationToken)
    {
        var builder = GrpcHostDefaults.CreateBuilder(configuration);
        builder.Services.AddValidatedOptions<NodeOptions>(NodeOptions.Section, o => o.Validate());
        builder.AddGrpcHostDefaults<NodeOptions>("node").AddDatabaseCheck();
        builder.Services.AddHostDatabase<NodeDb>();
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddSingleton(new NodeRuntime(DateTimeOffset.UtcNow));

        // Anonymous health probes are expected; their "not authenticated" notes are noise.
        builder.Logging.AddFilter("GenerateCT.Node.Security.NoIdentityProviderHandler", LogLevel.Warning);
        builder.Services.AddNodeIngest();
        builder.Services.AddNodeGeneration();
        builder.Services.AddNodeTraining();
        builder.Services.AddNodeFederation();
        builder.AddNodeAuthentication();
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, DeniedCallAudit>();
        builder.Services.AddSingleton<CallAuditInterceptor>();
        builder.Services.AddSingleton<ExpensiveCallLimiter>();
        builder.Services.Configure<GrpcServiceOptions>(o =>
        {
            // Order matters: auditing is outermost so that rate-limited calls are recorded too.
            o.Interceptors.Add<CallAuditInterceptor>();
            o.Interceptors.Add<ExpensiveCallLimiter>();
        });

        addServices(builder.Services);
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseGrpcHostDefaults();
        app.MapGrpcService<NodeAdminService>();
        app.MapGrpcService<GenerationService>();

        var node = new NodeHost(await GrpcHost.StartAsync(app, OpenAsync, cancellationToken));
        try
        {
            var options = node.Options;
            await app.Services.GetRequiredService<AuditTrail>().AppendAsync(
                new AuditEntry("system", "node:start", "success", JsonSerializer.Serialize(new
                {
                    grpcPort = node.GrpcAddress.Port,
                    identityProvider = options.Identity.IsConfigured ? options.Identity.Authority ?? options.Identity.Instance : null,
                    expensiveCallsPerMinute = options.RateLimit.ExpensiveCallsPerMinute,
                })),
                cancellationToken);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Before the services start: the database (migrated as its owner, then served as the service
    /// role) and the site keys of de-identification.
    /// </summary>
    private static async Task OpenAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptions<NodeOptions>>().Value;
        Directory.CreateDirectory(options.DataDirectory);
        await services.GetRequiredService<HostDatabase>().OpenAsync(
            options.ConnectionString,
            options.DataDirectory,
            async (owner, ct) =>
            {
                await DatabaseSchema.MigrateNodeAsync(owner, ct);
                return await NodeServiceRole.EnsureAsync(owner, ServiceRolePasswordFile(options.DataDirectory), ct);
            },
            cancellationToken);
        await services.GetRequiredService<SiteKeys>().OpenAsync(cancellationToken);
    }

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl+C or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _host.WaitForShutdownAsync(cancellationToken);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
