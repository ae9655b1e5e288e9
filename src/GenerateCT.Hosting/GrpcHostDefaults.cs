using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Hosting;

/// <summary>
/// What every GenerateCT host (node, coordinator) shares, in one place like eShop's ServiceDefaults:
/// options bound from configuration and validated at start, console logging, Kestrel serving gRPC
/// over HTTP/2 with TLS only, the grpc.health.v1 service and its checks.
/// </summary>
public static class GrpcHostDefaults
{
    /// <summary>
    /// A slim web application builder whose configuration is <paramref name="configuration"/> alone (the
    /// caller decides the sources: `gct` reads a JSON file, GCT_ environment variables and its options),
    /// logging one line per event to the console.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(IConfiguration configuration)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        // Background workers poll their tables; every SQL command at Information would drown the log.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        return builder;
    }

    /// <summary>
    /// Binds <typeparamref name="T"/> to configuration section <paramref name="section"/> (<c>IOptions&lt;T&gt;</c>) and
    /// validates it at start with <paramref name="validate"/>, which throws <see cref="ConfigurationException"/>
    /// naming the bad key.
    /// </summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, string section, Action<T> validate)
        where T : class =>
        services.AddOptions<T>()
            .BindConfiguration(section)
            .Validate(options =>
            {
                validate(options);
                return true;
            })
            .ValidateOnStart();

    /// <summary>
    /// gRPC over TLS on the address, port and certificate of <typeparamref name="TOptions"/> (bound by the
    /// caller), and the grpc.health.v1 service with no checks yet (add them to the returned builder).
    /// </summary>
    /// <param name="role">"node" or "coordinator": names the self-signed certificate (DATA/tls/ROLE.pfx).</param>
    public static IHealthChecksBuilder AddGrpcHostDefaults<TOptions>(this WebApplicationBuilder builder, string role)
        where TOptions : class, IGrpcHostOptions
    {
        builder.Services.AddSingleton(sp => new GrpcHostCertificate(LoadOrCreate(sp.GetRequiredService<IOptions<TOptions>>().Value, role)));
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<TOptions>, GrpcHostCertificate, IServiceProvider>((kestrel, options, certificate, services) =>
        {
            var clientCertificates = services.GetService<ClientCertificateRequest>() is not null;
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(options.Value.GrpcAddress), options.Value.GrpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.UseHttps(https =>
                {
                    https.ServerCertificate = certificate.Certificate;
                    if (clientCertificates)
                    {
                        // Judged per call by the host (see ClientCertificateRequest), not against the system store here.
                        https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                        https.ClientCertificateValidation = (_, _, _) => true;
                    }
                });
            });
        });
        builder.Services.AddGrpc(o => o.EnableDetailedErrors = false);
        builder.Services.AddGrpcHealthChecks();
        return builder.Services.AddHealthChecks();
    }

    /// <summary>Health check "database": the host's <see cref="System.Data.Common.DbDataSource"/> (from DI) answers a query.</summary>
    public static IHealthChecksBuilder AddDatabaseCheck(this IHealthChecksBuilder checks) =>
        checks.AddCheck<DatabaseHealthCheck>("database");

    /// <summary>A hosted service that other services (and the host's properties) also resolve by its type.</summary>
    public static IServiceCollection AddHostedSingleton<T>(this IServiceCollection services)
        where T : class, IHostedService
    {
        services.AddSingleton<T>();
        return services.AddHostedService(sp => sp.GetRequiredService<T>());
    }

    /// <summary>Maps the grpc.health.v1 service (anonymous: load balancers and `gct` probe it).</summary>
    public static WebApplication UseGrpcHostDefaults(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        return app;
    }

    private static X509Certificate2 LoadOrCreate(IGrpcHostOptions options, string role)
    {
        Directory.CreateDirectory(options.DataDirectory);
        return options.Tls.LoadOrCreate(options.DataDirectory, role);
    }
}

/// <summary>The certificate a host serves gRPC with (configured, or self-signed in its data directory).</summary>
public sealed record GrpcHostCertificate(X509Certificate2 Certificate);
