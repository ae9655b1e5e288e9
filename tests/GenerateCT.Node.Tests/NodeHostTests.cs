using GenerateCT.Hosting;
using GenerateCT.Node;
using GenerateCT.Testing;
using Grpc.Health.V1;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

public class NodeHostTests
{
    private static IConfiguration Config(string dataDir, params (string Key, string? Value)[] extra) => TestNodeConfiguration.Create(dataDir, extra);

    [Fact]
    public async Task Node_with_no_configuration_runs_on_its_embedded_database_and_answers_health_over_tls()
    {
        var dir = Scratch.NewDirectory("gct-node");
        try
        {
            await using (var node = await NodeHost.StartAsync(Config(dir)))
            {
                Assert.Equal("https", node.GrpcAddress.Scheme);
                using var channel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, node.Certificate);
                Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcClientChannels.CheckHealthAsync(channel));
                Assert.True(File.Exists(Path.Combine(dir, "postgres", "data", "PG_VERSION")));
                Assert.True(File.Exists(Path.Combine(dir, "tls", "node.pfx")));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "tls", "node.pfx")));
            }

            // A restart reuses the same cluster and certificate.
            var thumb = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(dir, "tls", "node.pfx"), null).Thumbprint;
            await using var again = await NodeHost.StartAsync(Config(dir));
            Assert.Equal(thumb, again.Certificate.Thumbprint);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_client_that_does_not_trust_the_certificate_is_refused()
    {
        var dir = Scratch.NewDirectory("gct-node");
        try
        {
            await using var node = await NodeHost.StartAsync(Config(dir));
            using var other = ServerCertificate.LoadOrCreateSelfSigned(Path.Combine(dir, "other.pfx"), "someone else");
            using var channel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, other);
            var ex = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => GrpcClientChannels.CheckHealthAsync(channel));
            Assert.Contains(ex.StatusCode, new[] { Grpc.Core.StatusCode.Unavailable, Grpc.Core.StatusCode.Internal });
            Assert.Contains("SSL", ex.Status.DebugException?.ToString() ?? ex.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("Node:GrpcPort", "70000")]
    [InlineData("Node:DicomPort", "-1")]
    [InlineData("Node:AeTitle", "THIS_AE_TITLE_IS_TOO_LONG")]
    [InlineData("Node:GrpcAddress", "not-an-ip")]
    [InlineData("Node:Tls:CertificatePath", "/nonexistent/cert.pfx")]
    [InlineData("Node:RateLimit:ExpensiveCallsPerMinute", "0")]
    public async Task Invalid_configuration_fails_at_start_naming_the_key(string key, string value)
    {
        var dir = Scratch.NewDirectory("gct-node");
        try
        {
            var ex = await Assert.ThrowsAsync<ConfigurationException>(() => NodeHost.StartAsync(Config(dir, (key, value))));
            Assert.Equal(key, ex.Key);
            Assert.Contains(key, ex.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "postgres")), "no database is created for an invalid configuration");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("Node:Identity:ClientId", "Node:Identity:TenantId", "11111111-2222-3333-4444-555555555555")]
    [InlineData("Node:Identity:Instance", "Node:Identity:ClientId", "app")]
    [InlineData("Node:Identity:Authority", "Node:Identity:Authority", "http://idp.hospital.example/tenant/v2.0")]
    [InlineData("Node:Identity:IssuerCaCertificatePath", "Node:Identity:IssuerCaCertificatePath", "/nonexistent/ca.pem")]
    public async Task Invalid_identity_configuration_fails_at_start_naming_the_key(string expectedKey, string key, string value)
    {
        var dir = Scratch.NewDirectory("gct-node");
        try
        {
            var extra = new List<(string, string?)> { (key, value) };
            if (key != "Node:Identity:ClientId" && expectedKey != "Node:Identity:ClientId")
            {
                extra.Add(("Node:Identity:ClientId", "app"));
            }

            if (key is "Node:Identity:IssuerCaCertificatePath")
            {
                extra.Add(("Node:Identity:Authority", "https://idp.hospital.example/tenant/v2.0"));
            }

            var ex = await Assert.ThrowsAsync<ConfigurationException>(() => NodeHost.StartAsync(Config(dir, extra.ToArray())));
            Assert.Equal(expectedKey, ex.Key);
            Assert.False(Directory.Exists(Path.Combine(dir, "postgres")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
