using GenerateCT.Data;
using GenerateCT.Data.Node;
using GenerateCT.Hosting;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.Pipeline;
using GenerateCT.Testing;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>
/// A node that generates: a tiny bundle trained here in seconds (quality is irrelevant, the chain is
/// real), the loopback OIDC issuer for researcher tokens, and TLS gRPC. Before the node the tests use
/// starts, a first start is "crashed" into: a job left running with partial files on disk.
/// </summary>
public sealed class GenerationNodeFixture : IAsyncLifetime
{
    public const int MaxVolumesPerJob = 3;

    private string _dir = "";

    public OidcIssuer Issuer { get; private set; } = null!;

    public NodeHost Node { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public string ClientId { get; } = Guid.NewGuid().ToString();

    public string OutputRoot => Path.Combine(_dir, "node", "generated");

    /// <summary>The job the simulated crash left running, and the files it left.</summary>
    public Guid InterruptedJob { get; } = Guid.NewGuid();

    public string InterruptedPartialFile => Path.Combine(OutputRoot, InterruptedJob.ToString("N"), ".partial", "x", "synthetic-001.nii.gz");

    public double TrainingSeconds { get; private set; }

    public async Task InitializeAsync()
    {
        _dir = TempDirectory.Create("gct-node-gen");
        var bundle = Path.Combine(_dir, "bundle");
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var cases = Enumerable.Range(0, 8).Select(Chest).ToList();
        await BundleTrainer.TrainAsync(
            GenerationConfig.Tiny,
            cases,
            SharedReference.PathOf("spm_tiny.model"),
            bundle,
            new TrainAllOptions { CtVitSteps = 2, MaskGitSteps = 2, SuperResSteps = 2, BatchSize = 2, Seed = 5 },
            TorchSharp.torch.CPU);
        TrainingSeconds = stopwatch.Elapsed.TotalSeconds;

        Issuer = await OidcIssuer.StartAsync(_dir);
        var config = SecuredNodeFixture.Configuration(_dir, Issuer, ClientId, new()
        {
            ["Node:RateLimit:ExpensiveCallsPerMinute"] = "100",
            ["Node:Generation:Bundle"] = bundle,
            ["Node:Generation:Device"] = "cpu",
            ["Node:Generation:MaxVolumesPerJob"] = MaxVolumesPerJob.ToString(),
        });

        // First start creates the database; then a job is left as a crash would leave it.
        await using (var first = await NodeHost.StartAsync(config))
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

        Directory.CreateDirectory(Path.GetDirectoryName(InterruptedPartialFile)!);
        await File.WriteAllBytesAsync(InterruptedPartialFile, new byte[100]);

        Node = await NodeHost.StartAsync(config);
        Channel = GrpcClientChannels.ForPinnedServer(Node.GrpcAddress, Node.Certificate);
    }

    public TokenRequest Researcher(string user) => new TokenRequest(ClientId, [Security.NodeRoles.Researcher]) with { User = user };

    public TokenRequest Admin(string user) => new TokenRequest(ClientId, [Security.NodeRoles.Admin]) with { User = user };

    public CallOptions As(TokenRequest who, int seconds = 60) =>
        new(headers: new Metadata { { "Authorization", "Bearer " + Issuer.IssueToken(who) } }, deadline: DateTime.UtcNow.AddSeconds(seconds));

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

    /// <summary>A 9 × 64 × 64 generator phantom (every other one with cardiomegaly) and its report's prompt.</summary>
    private static TrainingCase Chest(int seed)
    {
        var phantom = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = seed, Slices = 9, Size = 64, FindingKinds = seed % 2 == 0 ? [FindingKind.Cardiomegaly] : [] });
        return new TrainingCase(phantom.Volume, phantom.Prompt);
    }
}

[CollectionDefinition(Name)]
public sealed class GenerationNodeCollection : ICollectionFixture<GenerationNodeFixture>
{
    public const string Name = "generating node";
}
