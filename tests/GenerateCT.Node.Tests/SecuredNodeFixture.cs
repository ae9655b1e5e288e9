using GenerateCT.Hosting;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>
/// One node for the security tests: its embedded database, and a real OIDC issuer on loopback that
/// it trusts through ordinary configuration (Node:Identity:Authority, ClientId and the issuer's CA).
/// </summary>
public sealed class SecuredNodeFixture : IAsyncLifetime
{
    public const int ExpensiveCallsPerMinute = 2;

    private string _dir = "";

    public OidcIssuer Issuer { get; private set; } = null!;

    public NodeHost Node { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    /// <summary>The node's application (client) ID: the audience its tokens must carry.</summary>
    public string ClientId { get; } = Guid.NewGuid().ToString();

    public async Task InitializeAsync()
    {
        _dir = TempDirectory.Create("gct-node-sec");
        Issuer = await OidcIssuer.StartAsync(_dir);
        var config = Configuration(_dir, Issuer, ClientId, new() { ["Node:RateLimit:ExpensiveCallsPerMinute"] = ExpensiveCallsPerMinute.ToString() });
        Node = await NodeHost.StartAsync(config);
        Channel = GrpcClientChannels.ForPinnedServer(Node.GrpcAddress, Node.Certificate);
    }

    /// <summary>
    /// A node on loopback with free ports, its data under <paramref name="dir"/>/node, trusting
    /// <paramref name="issuer"/> for audience <paramref name="clientId"/>; <paramref name="extra"/> adds or overrides keys.
    /// </summary>
    public static IConfiguration Configuration(string dir, OidcIssuer issuer, string clientId, Dictionary<string, string?> extra)
    {
        var values = new Dictionary<string, string?>
        {
            ["Node:DataDirectory"] = Path.Combine(dir, "node"),
            ["Node:GrpcPort"] = "0",
            ["Node:DicomPort"] = "0",
            ["Node:Ingest:Hl7Port"] = "0",
            ["Node:GrpcAddress"] = "127.0.0.1",
            ["Node:Identity:Authority"] = issuer.Authority,
            ["Node:Identity:ClientId"] = clientId,
            ["Node:Identity:IssuerCaCertificatePath"] = issuer.CaCertificatePath,
        };
        foreach (var (key, value) in extra)
        {
            values[key] = value;
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    public string Token(params string[] roles) => Issuer.IssueToken(new TokenRequest(ClientId, roles));

    public string Token(TokenRequest request) => Issuer.IssueToken(request);

    public TokenRequest Request(params string[] roles) => new(ClientId, roles);

    public static CallOptions Bearer(string token) =>
        new(headers: new Metadata { { "Authorization", "Bearer " + token } }, deadline: DateTime.UtcNow.AddSeconds(30));

    public async Task DisposeAsync()
    {
        Channel?.Dispose();
        if (Node is not null)
        {
            await Node.DisposeAsync();
        }

        if (Issuer is not null)
        {
            await Issuer.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class SecuredNodeCollection : ICollectionFixture<SecuredNodeFixture>
{
    public const string Name = "secured node";
}
