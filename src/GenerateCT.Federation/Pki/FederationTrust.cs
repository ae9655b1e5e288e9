using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Federation.Pki;

/// <summary>A federation member as its client certificate proves it: never as a message claims it.</summary>
/// <param name="Name">The certificate's subject CN (node or operator name).</param>
/// <param name="Role">The subject's OU.</param>
/// <param name="Sha256">SHA-256 fingerprint of the certificate, lower-case hex.</param>
/// <param name="Serial">Serial number, upper-case hex.</param>
public sealed record FederationPeer(string Name, SiteRole Role, string Sha256, string Serial);

/// <summary>The outcome of <see cref="FederationTrust.Check"/>: a peer, or why not.</summary>
public sealed record PeerCheck(FederationPeer? Peer, PeerRefusal Kind, string? Refusal)
{
    public bool IsValid => Peer is not null;

    public static PeerCheck Refused(PeerRefusal kind, string reason) => new(null, kind, reason);
}

/// <summary>
/// Decides whether a TLS client certificate belongs to a federation member, for every call: it chains
/// to the federation CA (custom root trust, not the system store), is inside its validity period,
/// carries clientAuth and a role, and is not on the revocation list. The list file is read on every
/// check (it is small; the parse is cached while its bytes are unchanged), so a revocation written by
/// <c>gct pki revoke</c> takes effect at the next call, without a restart. An unreadable or unsigned
/// list refuses everyone: failing closed.
/// </summary>
public sealed class FederationTrust
{
    private readonly string _crlPath;
    private readonly TimeProvider _clock;
    private volatile CachedList? _cached;

    public FederationTrust(X509Certificate2 caCertificate, string crlPath, TimeProvider? clock = null)
    {
        CaCertificate = caCertificate;
        _crlPath = crlPath;
        _clock = clock ?? TimeProvider.System;
    }

    public X509Certificate2 CaCertificate { get; }

    public string CrlPath => _crlPath;

    public PeerCheck Check(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return PeerCheck.Refused(PeerRefusal.NoCertificate, "no client certificate: connect with the site's startup kit");
        }

        var chain = FederationChain.Check(certificate, CaCertificate, _clock.GetUtcNow(), FederationChain.ClientAuth);
        if (chain.Refusal is not null)
        {
            return PeerCheck.Refused(chain.Kind, chain.Refusal);
        }

        if (FederationChain.RoleOf(certificate) is not { } role)
        {
            return PeerCheck.Refused(PeerRefusal.WrongUsage, $"certificate '{certificate.Subject}' names no federation role (OU=node or OU=operator)");
        }

        RevocationList list;
        try
        {
            list = CurrentList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or FormatException)
        {
            return PeerCheck.Refused(PeerRefusal.RevocationListUnavailable, $"the revocation list '{_crlPath}' cannot be used ({e.Message}); every certificate is refused until it is restored");
        }

        if (list.IsRevoked(certificate))
        {
            return PeerCheck.Refused(PeerRefusal.Revoked, $"certificate {certificate.SerialNumber} of '{certificate.GetNameInfo(X509NameType.SimpleName, false)}' is revoked");
        }

        return new PeerCheck(
            new FederationPeer(certificate.GetNameInfo(X509NameType.SimpleName, false), role, CertificateFingerprint.Sha256(certificate), certificate.SerialNumber),
            PeerRefusal.None,
            null);
    }

    private RevocationList CurrentList()
    {
        var bytes = File.ReadAllBytes(_crlPath);
        var cached = _cached;
        if (cached is not null && cached.Bytes.AsSpan().SequenceEqual(bytes))
        {
            return cached.List;
        }

        var list = RevocationList.Parse(bytes, CaCertificate);
        _cached = new CachedList(bytes, list);
        return list;
    }

    private sealed record CachedList(byte[] Bytes, RevocationList List);
}
