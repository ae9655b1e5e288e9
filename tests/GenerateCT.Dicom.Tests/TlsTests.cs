using System.Globalization;
using GenerateCT.Dicom.Network;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

/// <summary>DICOM TLS (PS3.15 Annex B) with dcmtk's built-in TLS, both directions of trust.</summary>
public class TlsTests
{
    [Fact]
    public async Task Storescu_over_TLS_with_a_certificate_from_our_CA_stores_and_an_untrusted_CA_is_refused()
    {
        using var ca = new TestCertificateAuthority("GCT Test Federation CA");
        using var rogue = new TestCertificateAuthority("Rogue CA");
        using var serverCert = ca.Issue("gct-node");
        using var goodClient = ca.Issue("pacs");
        using var badClient = rogue.Issue("pacs");
        await using var scp = await ScpHarness.StartAsync(o =>
        {
            o.TlsCertificate = serverCert;
            o.RequireClientCertificate = true;
            o.TrustedClientAuthorities.Add(ca.Certificate);
        });
        var pem = Path.Combine(scp.Scratch, "pem");
        Directory.CreateDirectory(pem);
        var (caPem, _) = TestCertificateAuthority.WritePem(ca.Certificate, pem, "ca");
        var (goodCert, goodKey) = TestCertificateAuthority.WritePem(goodClient, pem, "good");
        var (badCert, badKey) = TestCertificateAuthority.WritePem(badClient, pem, "bad");
        var file = Path.Combine(scp.Scratch, "ct.dcm");
        var ds = SampleData.CtSeries(depth: 1, size: 16)[0];
        await new DicomFile(ds).SaveAsync(file);
        var port = scp.Port.ToString(CultureInfo.InvariantCulture);

        var ok = await DcmtkTool.RunAsync("storescu", ["+tls", goodKey!, goodCert, "-pw", "+cf", caPem, "-aet", "PACS", "-aec", "GCT", "127.0.0.1", port, file]);
        Assert.True(ok.ExitCode == 0, ok.Output);
        Assert.Single(scp.StoredFiles());
        var accepted = await scp.WaitForEventAsync(e => e.Outcome == DicomAssociationOutcome.Released);
        Assert.True(accepted.IsTls);
        Assert.Contains("CN=pacs", accepted.Association!.PeerCertificateSubject);

        var refused = await DcmtkTool.RunAsync("storescu", ["+tls", badKey!, badCert, "-pw", "+cf", caPem, "-aet", "PACS", "-aec", "GCT", "127.0.0.1", port, file]);
        Assert.NotEqual(0, refused.ExitCode);
        var failure = await scp.WaitForEventAsync(e => e.Outcome == DicomAssociationOutcome.Failed);
        Assert.Contains("TLS", failure.Detail);

        // Plain TCP to a TLS listener fails too, and the listener keeps serving afterwards.
        var plain = await DcmtkTool.RunAsync("echoscu", ["-aec", "GCT", "-to", "5", "127.0.0.1", port]);
        Assert.NotEqual(0, plain.ExitCode);
        var tlsOptions = new DicomClientTlsOptions { ClientCertificate = goodClient };
        tlsOptions.TrustedServerAuthorities.Add(ca.Certificate);
        var echo = await DicomClient.EchoAsync(new DicomClientOptions { Host = "127.0.0.1", Port = scp.Port, CalledAeTitle = "GCT", Tls = tlsOptions });
        Assert.True(echo.IsSuccess);
    }

    [Fact]
    public async Task Our_SCU_refuses_a_server_certificate_from_an_untrusted_CA()
    {
        using var ca = new TestCertificateAuthority("Trusted CA");
        using var rogue = new TestCertificateAuthority("Rogue CA");
        using var rogueServer = rogue.Issue("fake-pacs");
        await using var scp = await ScpHarness.StartAsync(o =>
        {
            o.TlsCertificate = rogueServer;
            o.RequireClientCertificate = false;
        });
        var tls = new DicomClientTlsOptions();
        tls.TrustedServerAuthorities.Add(ca.Certificate);
        var ex = await Assert.ThrowsAsync<DicomNetworkException>(() =>
            DicomClient.EchoAsync(new DicomClientOptions { Host = "127.0.0.1", Port = scp.Port, CalledAeTitle = "GCT", Tls = tls }));
        Assert.Contains("cannot reach", ex.Message);
    }
}
