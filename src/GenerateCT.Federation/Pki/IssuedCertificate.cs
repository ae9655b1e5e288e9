using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Federation.Pki;

/// <summary>One certificate the federation CA issued, as its records keep it (no key).</summary>
/// <param name="Serial">Serial number, upper-case hex as <see cref="X509Certificate.GetSerialNumberString"/> prints it.</param>
/// <param name="Name">The subject CN: node or operator name, or the coordinator's host name.</param>
/// <param name="Sha256">SHA-256 fingerprint of the DER certificate, lower-case hex.</param>
/// <param name="Kit">The startup kit folder written for it.</param>
/// <param name="RevokedAt">When it was revoked; null while it is valid.</param>
public sealed record IssuedCertificate(
    string Serial,
    string Name,
    SiteRole Role,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    string Sha256,
    string Kit,
    DateTimeOffset? RevokedAt = null)
{
    public bool IsRevoked => RevokedAt is not null;

    /// <summary>"valid", "expired" or "revoked" at <paramref name="now"/>.</summary>
    public string StateAt(DateTimeOffset now) => IsRevoked ? "revoked" : now > NotAfter ? "expired" : now < NotBefore ? "not yet valid" : "valid";
}

/// <summary>Fingerprints as the federation writes them: SHA-256 of the DER certificate, lower-case hex.</summary>
public static class CertificateFingerprint
{
    public static string Sha256(X509Certificate2 certificate) =>
        Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));
}
