using GenerateCT.Federation.Pki;
using GenerateCT.Testing;

namespace GenerateCT.Coordinator.Tests;

/// <summary>The per-call certificate decision the coordinator's authentication uses, on real CA files.</summary>
public class FederationTrustTests
{
    [Fact]
    public void A_revocation_list_not_signed_by_the_federation_ca_refuses_every_certificate()
    {
        using var scratch = new Scratch("gct-trust");
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        ca.Issue(SiteRole.Coordinator, "localhost");
        using var alpha = StartupKit.Load(ca.Issue(SiteRole.Node, "alpha").Kit);
        var crl = scratch.Combine("crl.pem");
        File.Copy(ca.CrlPath, crl);
        var trust = new FederationTrust(alpha.CaCertificate, crl);
        Assert.True(trust.Check(alpha.Certificate).IsValid);

        // Someone replaces the list with one from another CA (an empty one, revoking nothing).
        var other = FederationCa.Initialize(scratch.Combine("other"), "hospital-net");
        File.Copy(other.CrlPath, crl, overwrite: true);
        var check = trust.Check(alpha.Certificate);
        Assert.Equal(PeerRefusal.RevocationListUnavailable, check.Kind);
        Assert.Null(check.Peer);

        // A truncated list is no better.
        File.WriteAllBytes(crl, File.ReadAllBytes(ca.CrlPath)[..100]);
        Assert.Equal(PeerRefusal.RevocationListUnavailable, trust.Check(alpha.Certificate).Kind);

        File.Copy(ca.CrlPath, crl, overwrite: true);
        var peer = trust.Check(alpha.Certificate).Peer;
        Assert.Equal(new FederationPeer("alpha", SiteRole.Node, CertificateFingerprint.Sha256(alpha.Certificate), alpha.Certificate.SerialNumber), peer);
    }

    [Fact]
    public void A_coordinator_certificate_is_not_a_client_certificate()
    {
        using var scratch = new Scratch("gct-trust");
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        using var coordinator = StartupKit.Load(ca.Issue(SiteRole.Coordinator, "localhost").Kit);

        var check = new FederationTrust(coordinator.CaCertificate, ca.CrlPath).Check(coordinator.Certificate);

        Assert.Equal(PeerRefusal.WrongUsage, check.Kind);
    }

    [Fact]
    public void A_kit_whose_key_others_can_read_is_refused()
    {
        using var scratch = new Scratch("gct-trust");
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        ca.Issue(SiteRole.Coordinator, "localhost");
        var kit = ca.Issue(SiteRole.Node, "alpha").Kit;
        File.SetUnixFileMode(Path.Combine(kit, StartupKit.KeyFile), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var e = Assert.Throws<PkiException>(() => StartupKit.Load(kit));
        Assert.Contains("chmod 600", e.Message);
    }
}
