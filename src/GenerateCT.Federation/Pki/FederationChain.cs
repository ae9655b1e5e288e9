using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Federation.Pki;

/// <summary>Why a peer certificate is refused.</summary>
public enum PeerRefusal
{
    None,

    /// <summary>The peer presented no certificate.</summary>
    NoCertificate,

    /// <summary>It does not chain to the federation CA (another CA, self-signed, altered).</summary>
    UnknownCa,

    /// <summary>Outside its validity period (expired, or not yet valid).</summary>
    Expired,

    /// <summary>On the federation's revocation list.</summary>
    Revoked,

    /// <summary>Chains to the CA but is not for this use (wrong extended key usage, no role in its subject).</summary>
    WrongUsage,

    /// <summary>The revocation list cannot be read or is not signed by the CA: every peer is refused until it is fixed.</summary>
    RevocationListUnavailable,
}

/// <summary>The outcome of checking a certificate against the federation CA.</summary>
public sealed record ChainCheck(PeerRefusal Kind, string? Refusal)
{
    public static readonly ChainCheck Valid = new(PeerRefusal.None, null);
}

/// <summary>
/// Chain validation against the federation CA alone (custom root trust, no system store, no
/// certificate downloads). Revocation is the caller's (<see cref="FederationTrust"/>): the federation's
/// CRL is a local file, not a distribution point.
/// </summary>
public static class FederationChain
{
    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "Server Authentication");
    public static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <param name="expectedUsage">An extended key usage the certificate must carry (null: any).</param>
    public static ChainCheck Check(X509Certificate2 certificate, X509Certificate2 ca, DateTimeOffset now, Oid? expectedUsage)
    {
        // The chain is built at a time inside the certificate's validity so that "expired" and
        // "unknown CA" are told apart; the validity itself is checked against now below.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.VerificationTime = certificate.NotBefore.AddSeconds(1);
        var built = chain.Build(certificate);
        var root = chain.ChainElements.Count > 0 ? chain.ChainElements[^1].Certificate : null;
        if (!built || root is null || !root.RawData.AsSpan().SequenceEqual(ca.RawData) || chain.ChainElements.Count != 2)
        {
            var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct());
            return new ChainCheck(PeerRefusal.UnknownCa, $"certificate '{certificate.Subject}' is not issued by the federation CA ({(status.Length == 0 ? "other root" : status)})");
        }

        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime())
        {
            return new ChainCheck(PeerRefusal.Expired, $"certificate '{certificate.Subject}' is valid only from {certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u}");
        }

        if (now > ca.NotAfter.ToUniversalTime())
        {
            return new ChainCheck(PeerRefusal.Expired, $"the federation CA expired on {ca.NotAfter.ToUniversalTime():u}");
        }

        if (expectedUsage is not null)
        {
            var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).Select(o => o.Value).ToList();
            if (!usages.Contains(expectedUsage.Value))
            {
                return new ChainCheck(PeerRefusal.WrongUsage, $"certificate '{certificate.Subject}' is not for {expectedUsage.FriendlyName ?? expectedUsage.Value}");
            }
        }

        return ChainCheck.Valid;
    }

    /// <summary>The role in the subject's OU, or null when it names none of the federation's roles.</summary>
    public static SiteRole? RoleOf(X509Certificate2 certificate)
    {
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.GetSingleElementType().Value == "2.5.4.11" && SiteRoles.TryParse(rdn.GetSingleElementValue(), out var role))
            {
                return role;
            }
        }

        return null;
    }
}
