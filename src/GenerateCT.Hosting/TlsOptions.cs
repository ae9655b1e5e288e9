using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Hosting;

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
