using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Federation.Hosting;

/// <summary>Server certificate for gRPC; without one a self-signed certificate is created in the data directory.</summary>
public sealed class TlsOptions
{
    /// <summary>PKCS#12 file with the server certificate and key.</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassword { get; set; }

    public X509Certificate2 LoadOrCreate(string dataDirectory, string role) =>
        CertificatePath is { Length: > 0 } path
            ? ServerCertificate.Load(path, CertificatePassword)
            : ServerCertificate.LoadOrCreateSelfSigned(Path.Combine(dataDirectory, "tls", role + ".pfx"), "GenerateCT " + role);
}

/// <summary>
/// The running ASP.NET Core part of a node or coordinator: Kestrel with gRPC over TLS and the
/// grpc.health.v1 service. The role-specific host adds its services and endpoints.
/// </summary>
public sealed class GrpcServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcServiceHost(WebApplication app, X509Certificate2 certificate)
    {
        _app = app;
        Certificate = certificate;
    }

    public X509Certificate2 Certificate { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The gRPC address actually bound (port 0 resolved), as a client on this machine reaches it.</summary>
    public Uri GrpcAddress
    {
        get
        {
            var bound = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var port = new Uri(bound.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "127.0.0.1")).Port;
            return new Uri($"https://localhost:{port}");
        }
    }

    /// <param name="configuration">Configuration the services read (already validated by the caller).</param>
    /// <param name="address">Listen address.</param>
    /// <param name="port">Listen port (0 = any free).</param>
    /// <param name="certificate">TLS server certificate.</param>
    /// <param name="databaseProbe">Health probe of the host's database.</param>
    /// <param name="configure">Adds the role's services.</param>
    /// <param name="map">Maps the role's gRPC services.</param>
    public static async Task<GrpcServiceHost> StartAsync(
        IConfiguration configuration,
        IPAddress address,
        int port,
        X509Certificate2 certificate,
        Func<CancellationToken, Task> databaseProbe,
        Action<WebApplicationBuilder> configure,
        Action<WebApplication> map,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.UseGrpcTls(address, port, certificate);
        builder.Services.AddGrpcHealth().AddCheck("database", new ProbeHealthCheck(databaseProbe));
        configure(builder);

        var app = builder.Build();
        app.MapGrpcHealth();
        map(app);
        await app.StartAsync(cancellationToken);
        return new GrpcServiceHost(app, certificate);
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Healthy while the probe completes without throwing.</summary>
internal sealed class ProbeHealthCheck(Func<CancellationToken, Task> probe) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await probe(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy(e.Message, e);
        }
    }
}
