using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Testing.Dicom;

/// <summary>A throw-away PKI for TLS tests: a CA and leaf certificates it signs, exportable as PEM for dcmtk.</summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key;

    public TestCertificateAuthority(string name)
    {
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        Certificate = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddDays(2));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>A leaf certificate for "127.0.0.1"/"localhost" usable for both TLS server and client authentication.</summary>
    public X509Certificate2 Issue(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = req.Create(Certificate, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
        using var withKey = cert.CopyWithPrivateKey(key);

        // Round-trip through PKCS#12 so SslStream on Linux gets a certificate whose key it can use.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12, string.Empty), string.Empty, X509KeyStorageFlags.Exportable);
    }

    /// <summary>Writes the certificate (PEM) and, for leaves, its unencrypted PKCS#8 key (PEM); returns (certPath, keyPath).</summary>
    public static (string CertificatePath, string? KeyPath) WritePem(X509Certificate2 certificate, string directory, string name)
    {
        var certPath = Path.Combine(directory, name + ".crt.pem");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        string? keyPath = null;
        if (certificate.HasPrivateKey)
        {
            keyPath = Path.Combine(directory, name + ".key.pem");
            using var ec = certificate.GetECDsaPrivateKey()!;
            File.WriteAllText(keyPath, ec.ExportPkcs8PrivateKeyPem());
        }

        return (certPath, keyPath);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}
