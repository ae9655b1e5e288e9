using GenerateCT.Admin.V1;
using GenerateCT.Hosting;
using GenerateCT.Node.Security;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

public class IssuerTrustTests
{
    [Fact]
    public async Task Tokens_of_an_internal_issuer_are_refused_until_its_ca_is_configured()
    {
        var dir = TempDirectory.Create("gct-node-trust");
        try
        {
            await using var issuer = await OidcIssuer.StartAsync(dir);
            var clientId = Guid.NewGuid().ToString();
            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Node:DataDirectory"] = Path.Combine(dir, "node"),
                ["Node:GrpcPort"] = "0",
                ["Node:DicomPort"] = "0",
                ["Node:Ingest:Hl7Port"] = "0",
                ["Node:GrpcAddress"] = "127.0.0.1",
                ["Node:Identity:Authority"] = issuer.Authority,
                ["Node:Identity:ClientId"] = clientId,
            }).Build();

            // The issuer's certificate chains to a CA the system does not trust: discovery fails, so
            // even a perfectly valid token is refused rather than accepted unverified.
            await using var node = await NodeHost.StartAsync(config);
            using var channel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, node.Certificate);
            var headers = new Metadata { { "Authorization", "Bearer " + issuer.IssueToken(new TokenRequest(clientId, [NodeRoles.Admin])) } };
            var ex = await Assert.ThrowsAsync<RpcException>(() => new NodeAdmin.NodeAdminClient(channel).GetStatusAsync(new StatusRequest(), headers).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
