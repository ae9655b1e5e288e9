using GenerateCT.Testing.Oidc;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>
/// The one configuration the tests start nodes with: loopback gRPC, free ports, state under a
/// directory of the test's own; each test adds or overrides keys.
/// </summary>
internal static class TestNodeConfiguration
{
    /// <summary>A node whose state is in <paramref name="dataDirectory"/>; <paramref name="extra"/> adds or overrides keys.</summary>
    public static IConfiguration Create(string dataDirectory, params (string Key, string? Value)[] extra) =>
        Create(dataDirectory, extra.Select(e => KeyValuePair.Create(e.Key, e.Value)));

    public static IConfiguration Create(string dataDirectory, IEnumerable<KeyValuePair<string, string?>> extra)
    {
        var values = new Dictionary<string, string?>
        {
            ["Node:DataDirectory"] = dataDirectory,
            ["Node:GrpcPort"] = "0",
            ["Node:DicomPort"] = "0",
            ["Node:Ingest:Hl7Port"] = "0",
            ["Node:GrpcAddress"] = "127.0.0.1",
        };
        foreach (var (key, value) in extra)
        {
            values[key] = value;
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    /// <summary>The keys that make a node trust <paramref name="issuer"/> for audience <paramref name="clientId"/> (its CA included).</summary>
    public static Dictionary<string, string?> Trusting(OidcIssuer issuer, string clientId) => new()
    {
        ["Node:Identity:Authority"] = issuer.Authority,
        ["Node:Identity:ClientId"] = clientId,
        ["Node:Identity:IssuerCaCertificatePath"] = issuer.CaCertificatePath,
    };
}
