using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Hosting;

/// <summary>
/// Registered by a host whose TLS clients present certificates (the coordinator: mutual TLS with the
/// federation's nodes). The handshake then asks every client for a certificate and accepts whatever
/// it presents, or none: the host judges the certificate on every call (chain to its own CA,
/// validity, revocation) in its authentication handler, where a refusal has a reason, a gRPC status
/// and an audit row, and where a revocation applies to connections already open. Clients without a
/// certificate still reach the anonymous grpc.health.v1 service.
/// </summary>
public sealed class ClientCertificateRequest
{
    private ClientCertificateRequest()
    {
    }

    /// <summary>Makes <see cref="GrpcHostDefaults.AddGrpcHostDefaults{TOptions}"/> ask TLS clients for certificates.</summary>
    public static IServiceCollection AddTo(IServiceCollection services) => services.AddSingleton(new ClientCertificateRequest());
}
