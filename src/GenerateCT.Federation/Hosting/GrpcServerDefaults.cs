using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GenerateCT.Federation.Hosting;

/// <summary>
/// What every GenerateCT host (node, coordinator) shares: Kestrel serving gRPC over HTTP/2 with TLS
/// only, the gRPC health service, and health checks. One place, like eShop's ServiceDefaults.
/// </summary>
public static class GrpcServerDefaults
{
    /// <summary>Listens on <paramref name="address"/>:<paramref name="port"/> (HTTPS, HTTP/2) with the certificate.</summary>
    public static void UseGrpcTls(this WebApplicationBuilder builder, IPAddress address, int port, X509Certificate2 certificate)
    {
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(address, port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.UseHttps(certificate);
            });
        });
        builder.Services.AddGrpc(o => o.EnableDetailedErrors = false);
    }

    /// <summary>gRPC health checks (grpc.health.v1) backed by the named checks.</summary>
    public static IHealthChecksBuilder AddGrpcHealth(this IServiceCollection services)
    {
        services.AddGrpcHealthChecks();
        return services.AddHealthChecks();
    }

    public static void MapGrpcHealth(this WebApplication app) => app.MapGrpcHealthChecksService();
}
