using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace GenerateCT.Hosting;

/// <summary>
/// A running node or coordinator: the web application built with <see cref="GrpcHostDefaults"/>, its
/// bound gRPC address and certificate, and the start and stop sequence both hosts share.
/// </summary>
public sealed class GrpcHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcHost(WebApplication app) => _app = app;

    public IServiceProvider Services => _app.Services;

    public X509Certificate2 Certificate => _app.Services.GetRequiredService<GrpcHostCertificate>().Certificate;

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

    /// <summary>
    /// Validates every option registered with ValidateOnStart (a bad key stops here, before anything is
    /// created), runs <paramref name="beforeStart"/> (open and migrate the database), then starts the
    /// hosted services and Kestrel. On failure the application, and what its container owns, is disposed.
    /// </summary>
    public static async Task<GrpcHost> StartAsync(WebApplication app, Func<IServiceProvider, CancellationToken, Task> beforeStart, CancellationToken cancellationToken)
    {
        try
        {
            app.Services.GetService<IStartupValidator>()?.Validate();
            await beforeStart(app.Services, cancellationToken);
            await app.StartAsync(cancellationToken);
            return new GrpcHost(app);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops the hosted services and Kestrel, then disposes the container (database last: it was opened first).</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
