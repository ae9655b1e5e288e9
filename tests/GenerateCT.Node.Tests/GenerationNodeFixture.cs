using GenerateCT.Data;
using GenerateCT.Data.Node;
using GenerateCT.Federation.Hosting;
using GenerateCT.Imaging;
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
            Path.Combine(ReferenceDirectory(), "spm_tiny.model"),
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

    /// <summary>A 9 × 64 × 64 HU chest: air, body, two lungs, a heart (larger with cardiomegaly), a little noise.</summary>
    private static TrainingCase Chest(int seed)
    {
        var rng = new Random(seed);
        var cardiomegaly = seed % 2 == 0;
        var v = new Volume(9, 64, 64) { Spacing = (300.0 / 9, 360.0 / 64, 360.0 / 64) };
        var heart = cardiomegaly ? 14 : 8;
        for (var z = 0; z < 9; z++)
        {
            for (var y = 0; y < 64; y++)
            {
                for (var x = 0; x < 64; x++)
                {
                    double dx = x - 32, dy = y - 32, lx = Math.Abs(dx) - 13;
                    var hu = (dx * dx / 784) + (dy * dy / 484) > 1 ? -1000f
                        : (lx * lx / 100) + (dy * dy / 256) <= 1 ? -850f
                        : (dx * dx) + ((dy - 4) * (dy - 4)) <= heart * heart ? 60f
                        : 40f;
                    v[z, y, x] = hu + (float)(rng.NextDouble() * 20 - 10);
                }
            }
        }

        return new TrainingCase(v, cardiomegaly ? $"{50 + seed} years old female: Cardiomegaly." : $"{50 + seed} years old male: No acute findings.");
    }

    /// <summary>shared/reference (the tiny SentencePiece model), found above the test binaries.</summary>
    private static string ReferenceDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "reference");
            if (File.Exists(Path.Combine(candidate, "spm_tiny.model")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("shared/reference/spm_tiny.model not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class GenerationNodeCollection : ICollectionFixture<GenerationNodeFixture>
{
    public const string Name = "generating node";
}
