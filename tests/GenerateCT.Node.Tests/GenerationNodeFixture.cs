using GenerateCT.Data;
using GenerateCT.Data.Node;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.Pipeline;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>
/// A node that generates: a tiny bundle trained here in seconds (quality is irrelevant, the chain is
/// real), the loopback OIDC issuer for researcher tokens, and TLS gRPC. Before the node the tests use
/// starts, a first start is "crashed" into: a job left running with partial files on disk.
/// </summary>
public sealed class GenerationNodeFixture() : NodeFixture("gct-node-gen")
{
    public const int MaxVolumesPerJob = 3;

    private string Bundle => Path.Combine(Directory, "bundle");

    public string OutputRoot => Path.Combine(Directory, "node", "generated");

    /// <summary>The job the simulated crash left running, and the files it left.</summary>
    public Guid InterruptedJob { get; } = Guid.NewGuid();

    public string InterruptedPartialFile => Path.Combine(OutputRoot, InterruptedJob.ToString("N"), ".partial", "x", "synthetic-001.nii.gz");

    public double TrainingSeconds { get; private set; }

    protected override async Task PrepareAsync()
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await TinyBundle.TrainAsync(Bundle, cases: 8, size: 64, steps: 2, seed: 5);
        TrainingSeconds = stopwatch.Elapsed.TotalSeconds;
    }

    protected override Dictionary<string, string?> Configuration() => new()
    {
        ["Node:RateLimit:ExpensiveCallsPerMinute"] = "100",
        ["Node:Generation:Bundle"] = Bundle,
        ["Node:Generation:Device"] = "cpu",
        ["Node:Generation:MaxVolumesPerJob"] = MaxVolumesPerJob.ToString(),
    };

    /// <summary>A first start creates the database; then a job is left as a crash would leave it.</summary>
    protected override async Task BeforeStartAsync(IConfiguration configuration)
    {
        await using (var first = await NodeHost.StartAsync(configuration))
        {
            await using var db = DatabaseSchema.CreateNodeDb(first.DatabaseConnectionString);
            db.GenerationJobs.Add(new GenerationJob
            {
                Id = InterruptedJob,
                RequestedBy = "tenant/crashed",
                State = "running",
                Prompts = ["64 years old female: Cardiomegaly."],
                Count = 1,
                Formats = ["nifti"],
                CreatedAt = DateTimeOffset.UtcNow,
                StartedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync();
        }

        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(InterruptedPartialFile)!);
        await File.WriteAllBytesAsync(InterruptedPartialFile, new byte[100]);
    }

    public TokenRequest Researcher(string user) => Request(Security.NodeRoles.Researcher) with { User = user };

    public TokenRequest Admin(string user) => Request(Security.NodeRoles.Admin) with { User = user };

    public CallOptions As(TokenRequest who, int seconds = 60) =>
        new(headers: new Metadata { { "Authorization", "Bearer " + Issuer.IssueToken(who) } }, deadline: DateTime.UtcNow.AddSeconds(seconds));

}

[CollectionDefinition(Name)]
public sealed class GenerationNodeCollection : ICollectionFixture<GenerationNodeFixture>
{
    public const string Name = "generating node";
}
