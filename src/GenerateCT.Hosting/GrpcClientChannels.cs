using System.Security.Cryptography.X509Certificates;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace GenerateCT.Hosting;

/// <summary>gRPC client channels over TLS, trusting either the system store or one pinned certificate.</summary>
public static class GrpcClientChannels
{
    /// <summary>A channel that accepts exactly <paramref name="pinned"/> as the server certificate (self-signed installs).</summary>
    public static GrpcChannel ForPinnedServer(Uri address, X509Certificate2 pinned)
    {
        var expected = pinned.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is not null && cert.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256).AsSpan().SequenceEqual(expected),
            },
            EnableMultipleHttp2Connections = true,
        };
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler });
    }

    /// <summary>Asks a server's grpc.health.v1 service for its overall status.</summary>
    public static async Task<HealthCheckResponse.Types.ServingStatus> CheckHealthAsync(GrpcChannel channel, CancellationToken cancellationToken = default)
    {
        var client = new Health.HealthClient(channel);
        var reply = await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);
        return reply.Status;
    }
}
