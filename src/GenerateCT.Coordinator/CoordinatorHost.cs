using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenerateCT.Coordinator.Rounds;
using GenerateCT.Coordinator.Security;
using GenerateCT.Coordinator.Services;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Coordinator;
using GenerateCT.Hosting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Coordinator;

/// <summary>
/// The federation coordinator: an ASP.NET Core host serving gRPC over TLS on its PostgreSQL database
/// (the embedded private cluster unless a connection string is configured), migrations applied at start.
/// With a startup kit (Coordinator:Pki:Kit) it serves with the kit's certificate and asks clients for
/// theirs (mutual TLS): federation methods require a valid, unrevoked certificate of the federation CA,
/// checked at every call; grpc.health.v1 stays anonymous. Refusals, enrolments and starts are rows of
/// the coordinator's own hash-chained audit trail.
/// </summary>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly GrpcHost _host;

    private CoordinatorHost(GrpcHost host) => _host = host;

    public CoordinatorOptions Options => _host.Services.GetRequiredService<IOptions<CoordinatorOptions>>().Value;

    /// <summary>The certificate gRPC is served with (clients of a self-signed install pin it).</summary>
    public X509Certificate2 Certificate => _host.Certificate;

    public Uri GrpcAddress => _host.GrpcAddress;

    public string DatabaseConnectionString => _host.Services.GetRequiredService<HostDatabase>().OwnerConnectionString;

    /// <summary>The connection the coordinator's services use: its <see cref="ServiceRole"/>, which cannot alter the audit trail.</summary>
    public string ServiceConnectionString => _host.Services.GetRequiredService<HostDatabase>().ConnectionString;

    /// <summary>Where the service role's password is kept (mode 0600).</summary>
    public static string ServiceRolePasswordFile(string dataDirectory) => Path.Combine(dataDirectory, "database-service.password");

    /// <summary>Binds section "Coordinator" of <paramref name="configuration"/>, validates it, and starts the coordinator.</summary>
    public static async Task<CoordinatorHost> StartAsync(IConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var builder = GrpcHostDefaults.CreateBuilder(configuration);
        builder.Services.AddValidatedOptions<CoordinatorOptions>(CoordinatorOptions.Section, o => o.Validate());
        builder.Services.PostConfigure<CoordinatorOptions>(o => o.UseKitCertificate());
        builder.AddGrpcHostDefaults<CoordinatorOptions>("coordinator").AddDatabaseCheck();
        ClientCertificateRequest.AddTo(builder.Services);
        builder.Services.AddHostDatabase<CoordinatorDb>();
        builder.Services.AddSingleton<AuditTrail>();
        builder.Services.AddSingleton<CoordinatorPki>();
        builder.Services.AddSingleton<ModelStore>();
        builder.Services.AddHostedService<RoundLifecycle>();
        builder.Services.AddFederationAuthentication();
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, RefusedCallAudit>();

        // Health probes come without certificates; their "not authenticated" notes are noise (refusals are audited).
        builder.Logging.AddFilter(typeof(FederationCertificateHandler).FullName, LogLevel.Warning);

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseGrpcHostDefaults();
        app.MapGrpcService<FederationCoordinatorService>();
        app.MapGrpcService<OperatorService>();

        var coordinator = new CoordinatorHost(await GrpcHost.StartAsync(app, OpenAsync, cancellationToken));
        try
        {
            var options = coordinator.Options;
            var pki = app.Services.GetRequiredService<CoordinatorPki>();
            await app.Services.GetRequiredService<AuditTrail>().AppendAsync(
                new AuditEntry("system", "coordinator:start", "success", JsonSerializer.Serialize(new
                {
                    grpcPort = coordinator.GrpcAddress.Port,
                    federation = pki.Kit?.Manifest.Federation,
                    caSha256 = pki.Kit?.Manifest.CaSha256,
                    serverCertificateSha256 = GenerateCT.Federation.Pki.CertificateFingerprint.Sha256(coordinator.Certificate),
                    crl = options.Pki.EffectiveCrlPath,
                })),
                cancellationToken);
            return coordinator;
        }
        catch
        {
            await coordinator.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Before Kestrel starts: the kit and the federation trust (a damaged kit stops the start here), then
    /// the database, migrated as its owner, then served as the coordinator's service role (which may
    /// only insert and read audit rows).
    /// </summary>
    private static async Task OpenAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        services.GetRequiredService<CoordinatorPki>();
        var options = services.GetRequiredService<IOptions<CoordinatorOptions>>().Value;
        Directory.CreateDirectory(options.DataDirectory);
        await services.GetRequiredService<HostDatabase>().OpenAsync(
            options.ConnectionString,
            options.DataDirectory,
            async (owner, ct) =>
            {
                await DatabaseSchema.MigrateCoordinatorAsync(owner, ct);
                return await ServiceRole.EnsureAsync(owner, ServiceRolePasswordFile(options.DataDirectory), "coordinator", ct);
            },
            cancellationToken);
    }

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl+C or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _host.WaitForShutdownAsync(cancellationToken);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
