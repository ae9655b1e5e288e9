using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Hosting;

/// <summary>
/// The TLS certificate a node or coordinator serves gRPC with. Production installs configure a
/// certificate issued by the hospital's or federation's CA; with none configured, a self-signed one
/// is created once in the data directory (PKCS#12, file mode 0600) so a fresh install is TLS-only
/// from its first start.
/// </summary>
public static class ServerCertificate
{
    /// <summary>Loads <paramref name="path"/>, or creates a self-signed certificate there for localhost and this host name.</summary>
    public static X509Certificate2 LoadOrCreateSelfSigned(string path, string commonName)
    {
        if (File.Exists(path))
        {
            return WithPublicCopy(path, Load(path, password: null));
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddDnsName(Dns.GetHostName());
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(2));
        var pfx = created.Export(X509ContentType.Pfx);
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            fs.Write(pfx);
            fs.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
        return WithPublicCopy(path, Load(path, password: null));
    }

    /// <summary>
    /// Keeps the certificate alone (no key) beside the PKCS#12 as <c>.crt</c> (PEM, world-readable), for
    /// clients to pin: e.g. `gct cohort … --server-cert DATA/tls/node.crt`.
    /// </summary>
    private static X509Certificate2 WithPublicCopy(string pfxPath, X509Certificate2 certificate)
    {
        var crt = Path.ChangeExtension(pfxPath, ".crt");
        var pem = certificate.ExportCertificatePem() + "\n";
        if (!File.Exists(crt) || File.ReadAllText(crt) != pem)
        {
            var tmp = crt + ".tmp";
            File.WriteAllText(tmp, pem);
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(tmp, crt, overwrite: true);
        }

        return certificate;
    }

    /// <summary>A PEM certificate and its PEM private key, as a certificate TLS can serve with.</summary>
    public static X509Certificate2 LoadPem(string certificatePath, string keyPath)
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // A PKCS#12 round trip gives the key the storage SslStream expects on every platform.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
        }
        catch (CryptographicException e)
        {
            throw new InvalidOperationException($"TLS certificate '{certificatePath}' with key '{keyPath}' cannot be read ({e.Message}); check both files", e);
        }
    }

    public static X509Certificate2 Load(string path, string? password)
    {
        try
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.Exportable);
        }
        catch (CryptographicException e)
        {
            throw new InvalidOperationException($"TLS certificate '{path}' cannot be read ({e.Message}); check the file and its password", e);
        }
    }
}
