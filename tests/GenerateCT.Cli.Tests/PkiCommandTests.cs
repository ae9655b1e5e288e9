using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenerateCT.Cli;
using GenerateCT.Federation.Pki;
using GenerateCT.Testing;

namespace GenerateCT.Cli.Tests;

public class PkiCommandTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    [Fact]
    public async Task Pki_init_issue_revoke_and_list_round_trip_with_keys_kept_private()
    {
        using var scratch = new Scratch("gct-pki");
        var ca = scratch.Combine("ca");

        Assert.Equal(0, (await GctAsync("pki", "init", "--out", ca, "--federation", "hospital-net")).Code);
        Assert.Equal(PrivateDirectory, File.GetUnixFileMode(ca));
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(ca, "ca.key")));
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(ca, "federation.json")));

        Assert.Equal(0, (await GctAsync("pki", "issue", "--ca", ca, "--coordinator", "coord.example.org", "--port", "9555")).Code);
        var node = await GctAsync("pki", "issue", "--ca", ca, "--node", "alpha");
        Assert.Equal(0, node.Code);
        Assert.Equal(0, (await GctAsync("pki", "issue", "--ca", ca, "--operator", "ops-anna", "--days", "30")).Code);

        var alphaKit = Path.Combine(ca, "kits", "alpha");
        Assert.Equal(PrivateDirectory, File.GetUnixFileMode(alphaKit));
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(alphaKit, "site.key")));
        Assert.Equal(["ca.crt", "kit.json", "site.crt", "site.key"], Directory.GetFiles(alphaKit).Select(Path.GetFileName).Order());
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(alphaKit, "kit.json"))).RootElement;
        Assert.Equal("https://coord.example.org:9555", manifest.GetProperty("coordinator").GetString());
        Assert.Equal(("hospital-net", "alpha", "node"), (manifest.GetProperty("federation").GetString(), manifest.GetProperty("site").GetString(), manifest.GetProperty("role").GetString()));

        using var alpha = StartupKit.Load(alphaKit);
        Assert.Equal("CN=alpha, OU=node, O=hospital-net", alpha.Certificate.Subject);
        Assert.Equal(["1.3.6.1.5.5.7.3.2"], Usages(alpha.Certificate));
        Assert.Contains(alpha.Certificate.SerialNumber, node.Output);
        using var coordinator = StartupKit.Load(Path.Combine(ca, "kits", "coord.example.org"));
        Assert.Equal(["1.3.6.1.5.5.7.3.1"], Usages(coordinator.Certificate));
        Assert.True(coordinator.Certificate.MatchesHostname("coord.example.org"));
        Assert.Equal(SiteRole.Operator, StartupKit.Load(Path.Combine(ca, "kits", "ops-anna")).Role);

        var revoke = await GctAsync("pki", "revoke", "--ca", ca, "--name", "alpha");
        Assert.Equal(0, revoke.Code);
        Assert.Contains(alpha.Certificate.SerialNumber, revoke.Output);

        // The list as the coordinator reads it, and as the BCL's own CRL reader reads it.
        var crl = File.ReadAllBytes(Path.Combine(ca, "crl.pem"));
        Assert.Equal(crl, File.ReadAllBytes(Path.Combine(ca, "kits", "coord.example.org", "crl.pem")));
        var list = RevocationList.Parse(crl, alpha.CaCertificate);
        Assert.True(list.IsRevoked(alpha.Certificate));
        Assert.False(list.IsRevoked(coordinator.Certificate));
        var der = Convert.FromBase64String(string.Concat(File.ReadAllLines(Path.Combine(ca, "crl.pem")).Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
        var bcl = CertificateRevocationListBuilder.Load(der, out var number);
        Assert.Equal(new BigInteger(2), number); // the empty list written at init was number 1
        Assert.Equal(number, list.Number);
        Assert.True(bcl.RemoveEntry(alpha.Certificate.SerialNumberBytes.Span));

        var listed = await GctAsync("pki", "list", "--ca", ca);
        Assert.Equal(0, listed.Code);
        var rows = listed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(rows, r => r.Contains(alpha.Certificate.SerialNumber) && r.Contains(" revoked "));
        Assert.Contains(rows, r => r.Contains("ops-anna") && r.Contains(" operator ") && r.Contains(" valid "));
        Assert.Contains(rows, r => r.Contains("coord.example.org") && r.Contains(" coordinator ") && r.Contains(" valid "));

        // After revocation the name may be issued again, with a new serial.
        Assert.Equal(0, (await GctAsync("pki", "issue", "--ca", ca, "--node", "alpha")).Code);
        using var renewed = StartupKit.Load(alphaKit);
        Assert.NotEqual(alpha.Certificate.SerialNumber, renewed.Certificate.SerialNumber);
        Assert.False(list.IsRevoked(renewed.Certificate));
    }

    [Theory]
    [InlineData("already holds a federation CA", "pki", "init", "--out", "{ca}", "--federation", "again")]
    [InlineData("issue the coordinator's certificate first", "pki", "issue", "--ca", "{ca}", "--node", "alpha")]
    [InlineData("exactly one of --node", "pki", "issue", "--ca", "{ca}", "--node", "alpha", "--operator", "bob")]
    [InlineData("must be 1–64 letters", "pki", "issue", "--ca", "{ca}", "--operator", "bob smith", "--coordinator-address", "https://c:1")]
    [InlineData("no certificate with serial", "pki", "revoke", "--ca", "{ca}", "--serial", "0A0B")]
    [InlineData("holds no federation CA", "pki", "list", "--ca", "{missing}")]
    public async Task Pki_refusals_are_one_line_and_exit_2(string expected, params string[] args)
    {
        using var scratch = new Scratch("gct-pki");
        var ca = scratch.Combine("ca");
        Assert.Equal(0, (await GctAsync("pki", "init", "--out", ca, "--federation", "hospital-net")).Code);

        var result = await GctAsync(args.Select(a => a.Replace("{ca}", ca).Replace("{missing}", scratch.Combine("missing"))).ToArray());

        Assert.Equal(CommandFailure.ExitCode, result.Code);
        Assert.Contains(expected, result.Output);
        Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static string[] Usages(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>()).Select(o => o.Value!).ToArray();

    private static async Task<(int Code, string Output)> GctAsync(params string[] args)
    {
        var output = new StringWriter();
        var code = await Program.BuildRoot().Parse(args).InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = output });
        return (code, output.ToString());
    }
}
