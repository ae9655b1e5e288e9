using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.Pipeline;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;

namespace GenerateCT.Node.Tests;

/// <summary>A generating node (tiny bundle trained here in seconds) onto which global versions are installed.</summary>
public sealed class GlobalVersionsNodeFixture() : NodeFixture("gct-node-global")
{
    public string Bundle => Path.Combine(Directory, "bundle");

    public string WorkDirectory => System.IO.Directory.CreateDirectory(Path.Combine(Directory, "scratch")).FullName;

    protected override async Task PrepareAsync()
    {
        await TinyBundle.TrainAsync(Bundle, cases: 4, size: 64, steps: 1, seed: 7);
    }

    protected override Dictionary<string, string?> Configuration() => new()
    {
        ["Node:RateLimit:ExpensiveCallsPerMinute"] = "100",
        ["Node:Generation:Bundle"] = Bundle,
        ["Node:Generation:Device"] = "cpu",
    };

    public TokenRequest Researcher(string user) => Request(Security.NodeRoles.Researcher) with { User = user };

    public TokenRequest Admin(string user) => Request(Security.NodeRoles.Admin) with { User = user };

    public CallOptions As(TokenRequest who, int seconds = 60) =>
        new(headers: new Metadata { { "Authorization", "Bearer " + Issuer.IssueToken(who) } }, deadline: DateTime.UtcNow.AddSeconds(seconds));
}

[CollectionDefinition(Name)]
public sealed class GlobalVersionsNodeCollection : ICollectionFixture<GlobalVersionsNodeFixture>
{
    public const string Name = "node with global versions";
}
