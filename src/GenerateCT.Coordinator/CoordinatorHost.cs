using System.Security.Cryptography.X509Certificates;
using GenerateCT.Data;
using GenerateCT.Data.Coordinator;
using GenerateCT.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace GenerateCT.Coordinator;

/// <summary>
/// The federation coordinator: an ASP.NET Core host serving gRPC over TLS on its PostgreSQL database
/// (the embedded private cluster unless a connection string is configured), migrations applied at start.
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

    /// <summary>Binds section "Coordinator" of <paramref name="configuration"/>, validates it, and starts the coordinator.</summary>
    public static async Task<CoordinatorHost> StartAsync(IConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var builder = GrpcHostDefaults.CreateBuilder(configuration);
        builder.Services.AddValidatedOptions<CoordinatorOptions>(CoordinatorOptions.Section, o => o.Validate());
        builder.AddGrpcHostDefaults<CoordinatorOptions>("coordinator").AddDatabaseCheck();
        builder.Services.AddHostDatabase<CoordinatorDb>();
        var app = builder.Build();
        app.UseGrpcHostDefaults();
        return new CoordinatorHost(await GrpcHost.StartAsync(app, OpenDatabaseAsync, cancellationToken));
    }

    /// <summary>Opens the coordinator's database and applies its migrations (the coordinator runs as the owner).</summary>
    private static async Task OpenDatabaseAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptions<CoordinatorOptions>>().Value;
        Directory.CreateDirectory(options.DataDirectory);
        await services.GetRequiredService<HostDatabase>().OpenAsync(
            options.ConnectionString,
            options.DataDirectory,
            async (owner, ct) =>
            {
                await DatabaseSchema.MigrateCoordinatorAsync(owner, ct);
                return owner;
            },
            cancellationToken);
    }

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl+C or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _host.WaitForShutdownAsync(cancellationToken);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
