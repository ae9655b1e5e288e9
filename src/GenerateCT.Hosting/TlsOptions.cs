using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Hosting;

/// <summary>Server certificate for gRPC; without one a self-signed certificate is created in the data directory.</summary>
public sealed class TlsOptions
{
    /// <summary>PKCS#12 file with the server certificate and key; or a PEM certificate when <see cref="KeyPath"/> is set.</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassword { get; set; }

    /// <summary>PEM private key (PKCS#8) of a PEM <see cref="CertificatePath"/>, e.g. a federation startup kit's site.key.</summary>
    public string? KeyPath { get; set; }

    public X509Certificate2 LoadOrCreate(string dataDirectory, string role) =>
        CertificatePath is { Length: > 0 } path
            ? KeyPath is { Length: > 0 } key ? ServerCertificate.LoadPem(path, key) : ServerCertificate.Load(path, CertificatePassword)
            : ServerCertificate.LoadOrCreateSelfSigned(Path.Combine(dataDirectory, "tls", role + ".pfx"), "GenerateCT " + role);
}
