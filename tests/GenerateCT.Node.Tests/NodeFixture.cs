using GenerateCT.Hosting;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>
/// A node shared by a test collection: its embedded database under a temporary directory, a real
/// OIDC issuer on loopback that it trusts through ordinary configuration (Node:Identity:Authority,
/// ClientId and the issuer's CA), and a TLS gRPC channel to it.
/// </summary>
public abstract class NodeFixture : IAsyncLifetime
{
    private readonly string _prefix;

    protected NodeFixture(string directoryPrefix) => _prefix = directoryPrefix;

    /// <summary>The test's directory; the node's state is in its "node" folder.</summary>
    protected string Directory { get; private set; } = "";

    public OidcIssuer Issuer { get; private set; } = null!;

    public NodeHost Node { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    /// <summary>The node's application (client) ID: the audience its tokens must carry.</summary>
    public string ClientId { get; } = Guid.NewGuid().ToString();

    public async Task InitializeAsync()
    {
        Directory = Scratch.NewDirectory(_prefix);
        await PrepareAsync();
        Issuer = await OidcIssuer.StartAsync(Directory);
        var extra = TestNodeConfiguration.Trusting(Issuer, ClientId);
        foreach (var (key, value) in Configuration())
        {
            extra[key] = value;
        }

        var config = TestNodeConfiguration.Create(Path.Combine(Directory, "node"), extra);
        await BeforeStartAsync(config);
        Node = await NodeHost.StartAsync(config);
        Channel = GrpcClientChannels.ForPinnedServer(Node.GrpcAddress, Node.Certificate);
        await StartedAsync();
    }

    /// <summary>Keys this fixture's node adds to <see cref="TestNodeConfiguration"/>.</summary>
    protected abstract Dictionary<string, string?> Configuration();

    /// <summary>Runs before the issuer starts (e.g. training a bundle into <see cref="Directory"/>).</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>Runs with the node's configuration before the node the tests use starts.</summary>
    protected virtual Task BeforeStartAsync(IConfiguration configuration) => Task.CompletedTask;

    /// <summary>Runs once the node the tests use is up (e.g. pushing data to it).</summary>
    protected virtual Task StartedAsync() => Task.CompletedTask;

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

        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
