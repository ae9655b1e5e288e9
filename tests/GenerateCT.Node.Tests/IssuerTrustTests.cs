using GenerateCT.Admin.V1;
using GenerateCT.Hosting;
using GenerateCT.Node.Security;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;

namespace GenerateCT.Node.Tests;

public class IssuerTrustTests
{
    [Fact]
    public async Task Tokens_of_an_internal_issuer_are_refused_until_its_ca_is_configured()
    {
        var dir = Scratch.NewDirectory("gct-node-trust");
        try
        {
            await using var issuer = await OidcIssuer.StartAsync(dir);
            var clientId = Guid.NewGuid().ToString();
            var config = TestNodeConfiguration.Create(Path.Combine(dir, "node"), ("Node:Identity:Authority", issuer.Authority), ("Node:Identity:ClientId", clientId));

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
