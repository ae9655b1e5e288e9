using System.Diagnostics;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;
using Grpc.Core;

namespace GenerateCT.Cli.Tests;

/// <summary>
/// `gct federation` against a running `gct coordinator` process (real mutual TLS, real PostgreSQL),
/// which is killed with SIGKILL in the middle of a round and restarted: the update it acknowledged
/// before the kill still counts, and the round completes.
/// </summary>
public class FederationCommandTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Operator_verbs_run_a_round_that_survives_a_kill_9_of_the_coordinator()
    {
        using var scratch = new Scratch("gct-federation-cli");
        var port = Scratch.FreePort();
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        var coordinatorKit = ca.Issue(SiteRole.Coordinator, "localhost", coordinatorAddress: $"https://localhost:{port}").Kit;
        var alphaKit = ca.Issue(SiteRole.Node, "alpha").Kit;
        var betaKit = ca.Issue(SiteRole.Node, "beta").Kit;
        var opsKit = ca.Issue(SiteRole.Operator, "ops-anna").Kit;
        var connectionString = await postgres.CreateDatabaseAsync();
        var dataDir = scratch.Combine("coordinator");

        var baseWeights = Weights(1);
        var baseFile = scratch.Combine("base.gctw");
        await WeightFile.WriteAsync(baseFile, baseWeights);

        var coordinator = await StartCoordinatorAsync(coordinatorKit, dataDir, port, connectionString);
        try
        {
            var registered = await Gct.RunAsync(Timeout, "federation", "models", "register", "--kit", opsKit, "--weights", baseFile, "--stage", "maskgit", "--label", "released");
            Assert.True(registered.ExitCode == 0, registered.Output);
            Assert.Contains($"registered version 1: maskgit 3 tensors", registered.Output, StringComparison.Ordinal);
            Assert.Contains(baseWeights.ComputeVersionId(), registered.Output, StringComparison.Ordinal);

            await EnrolAsync(alphaKit, port);
            await EnrolAsync(betaKit, port);
            var started = await Gct.RunAsync(Timeout, "federation", "rounds", "start", "--kit", opsKit, "--stage", "maskgit", "--local-steps", "3", "--min-nodes", "2", "--deadline", "2m");
            Assert.True(started.ExitCode == 0, started.Output);
            Assert.Contains("round 1 open: maskgit from version 1, fedavg, k=2 of 2 participant(s)", started.Output, StringComparison.Ordinal);

            var deltaA = Weights(2);
            Assert.Equal("", await UploadAsync(alphaKit, port, deltaA, 30));
            var open = await Gct.RunAsync(Timeout, "federation", "status", "--kit", opsKit);
            Assert.True(open.ExitCode == 0, open.Output);
            Assert.True(open.Output.Contains("round 1 maskgit [#####.....] 1/2 updates (k=2) · deadline in 00:0", StringComparison.Ordinal), open.Output);

            // kill -9 once alpha's update was acknowledged; the restarted coordinator still holds it.
            coordinator.Kill(entireProcessTree: false);
            await coordinator.WaitForExitAsync();
            coordinator.Dispose();
            coordinator = await StartCoordinatorAsync(coordinatorKit, dataDir, port, connectionString);

            var deltaB = Weights(3);
            Assert.Equal("", await UploadAsync(betaKit, port, deltaB, 10));
            var status = await WaitForCompletedAsync(opsKit);
            Assert.Contains("alpha", status, StringComparison.Ordinal);
            Assert.Contains("1 → 2", status, StringComparison.Ordinal);
            Assert.Contains("2/2 (k=2)", status, StringComparison.Ordinal);

            var models = await Gct.RunAsync(Timeout, "federation", "models", "--kit", opsKit);
            Assert.True(models.ExitCode == 0, models.Output);
            Assert.Contains("round 1", models.Output, StringComparison.Ordinal);
            Assert.Contains("2 version(s)", models.Output, StringComparison.Ordinal);

            var v2 = await DownloadAsync(alphaKit, port, 2);
            for (int j = 0; j < baseWeights[0].Data.Length; j++)
            {
                Assert.Equal(baseWeights[0].Data[j] + (((30.0 * deltaA[0].Data[j]) + (10.0 * deltaB[0].Data[j])) / 40.0), v2[0].Data[j], 1e-6);
            }

            // A model bundle's stage registers as the next version; --parent keeps the other stages.
            var bundle = scratch.Combine("bundle");
            await TinyBundleAsync(bundle);
            var fromBundle = await Gct.RunAsync(Timeout, "federation", "models", "register", "--kit", opsKit, "--bundle", bundle, "--stage", "maskgit", "--parent", "2", "--label", "tiny bundle");
            Assert.True(fromBundle.ExitCode == 0, fromBundle.Output);
            var bundleWeights = GenerateCT.Node.Federation.BundleWeights.ReadStage(bundle, GenerateCT.Model.Training.ModelStage.MaskGit);
            Assert.Contains($"registered version 3: maskgit {bundleWeights.Count} tensors", fromBundle.Output, StringComparison.Ordinal);
            Assert.Contains(bundleWeights.ComputeVersionId(), fromBundle.Output, StringComparison.Ordinal);

            // A node's kit is not an operator's.
            var wrongKit = await Gct.RunAsync(Timeout, "federation", "status", "--kit", alphaKit);
            Assert.Equal(2, wrongKit.ExitCode);
            Assert.Contains("is a node kit", wrongKit.Output, StringComparison.Ordinal);
        }
        finally
        {
            if (!coordinator.HasExited)
            {
                coordinator.Kill(entireProcessTree: true);
                await coordinator.WaitForExitAsync();
            }

            coordinator.Dispose();
        }
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("2h", 7200)]
    [InlineData("00:00:45", 45)]
    public void Deadlines_read_as_durations(string text, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), GenerateCT.Cli.Federation.FederationCommands.ParseDuration(text));

    private static async Task<string> WaitForCompletedAsync(string opsKit)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var status = await Gct.RunAsync(Timeout, "federation", "status", "--kit", opsKit);
            Assert.True(status.ExitCode == 0, status.Output);
            if (status.Output.Contains("completed", StringComparison.Ordinal) || DateTime.UtcNow > until)
            {
                Assert.Contains("completed", status.Output, StringComparison.Ordinal);
                return status.Output;
            }

            await Task.Delay(250);
        }
    }

    private static async Task<Process> StartCoordinatorAsync(string kit, string dataDir, int port, string connectionString)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Gct.DllPath, "coordinator", "--kit", kit, "--data-dir", dataDir, "--grpc-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["GCT_Coordinator__ConnectionString"] = connectionString;
        psi.Environment["GCT_Coordinator__GrpcAddress"] = "127.0.0.1";
        psi.Environment["GCT_Coordinator__RoundCheckMilliseconds"] = "100";
        var process = Process.Start(psi)!;
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data?.Contains("coordinator up", StringComparison.Ordinal) == true)
            {
                up.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (await Task.WhenAny(up.Task, process.WaitForExitAsync(), Task.Delay(Timeout)) != up.Task)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"gct coordinator did not start:\n{log}");
        }

        return process;
    }

    private static GenerateCT.Federation.V1.Coordinator.CoordinatorClient Node(string kitDir, int port, out IDisposable owner)
    {
        var kit = StartupKit.Load(kitDir);
        var channel = kit.CreateCoordinatorChannel(new Uri($"https://localhost:{port}"));
        owner = new Owned(channel, kit);
        return new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel);
    }

    private static async Task EnrolAsync(string kitDir, int port)
    {
        var client = Node(kitDir, port, out var owner);
        using (owner)
        {
            await client.EnrolAsync(new EnrolRequest { NodeSoftwareVersion = "test", Device = "cpu", TrainingSamples = 5 });
        }
    }

    /// <summary>Uploads a delta for round 1 from version 1; returns the refusal reason, or "" when accepted.</summary>
    private static async Task<string> UploadAsync(string kitDir, int port, WeightSet delta, long samples)
    {
        var client = Node(kitDir, port, out var owner);
        using (owner)
        {
            using var call = client.UploadUpdate();
            await call.RequestStream.WriteAsync(new UpdateMessage { Header = new UpdateHeader { Round = 1, Stage = ModelStage.Maskgit, BaseModelVersion = 1, SampleCount = samples } });
            foreach (var chunk in ChunkWriter.Chunks(delta, 1000))
            {
                await call.RequestStream.WriteAsync(new UpdateMessage { Chunk = chunk });
            }

            await call.RequestStream.CompleteAsync();
            var answer = await call;
            return answer.Accepted ? "" : answer.Reason;
        }
    }

    private static async Task<WeightSet> DownloadAsync(string kitDir, int port, long version)
    {
        var client = Node(kitDir, port, out var owner);
        using (owner)
        {
            var assembler = new ChunkAssembler();
            using var call = client.DownloadModel(new DownloadModelRequest { ModelVersion = version, Stage = ModelStage.Maskgit });
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                assembler.Add(chunk);
            }

            return assembler.ToWeightSet();
        }
    }

    private static Task TinyBundleAsync(string directory)
    {
        var cases = Enumerable.Range(0, 2)
            .Select(seed => GenerateCT.Imaging.Phantoms.ChestPhantomGenerator.Generate(new GenerateCT.Imaging.Phantoms.PhantomSpec { Seed = seed, Slices = 9, Size = 64 }))
            .Select(p => new GenerateCT.Model.Pipeline.TrainingCase(p.Volume, p.Prompt))
            .ToList();
        return GenerateCT.Model.Pipeline.BundleTrainer.TrainAsync(
            GenerateCT.Model.Pipeline.GenerationConfig.Tiny,
            cases,
            ReferenceFixtures.PathOf("spm_tiny.model"),
            directory,
            new GenerateCT.Model.Pipeline.TrainAllOptions { CtVitSteps = 1, MaskGitSteps = 1, SuperResSteps = 1, BatchSize = 2, Seed = 3 },
            TorchSharp.torch.CPU);
    }

    private static WeightSet Weights(int seed)
    {
        var random = new Random(seed);
        WeightTensor T(string name, long[] shape)
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (float)((random.NextDouble() * 2) - 1);
            }

            return new WeightTensor(name, shape, data);
        }

        return new WeightSet([T("transformer.layers.0.to_q.weight", [16, 20]), T("transformer.layers.0.to_q.bias", [16]), T("transformer.scale", [])]);
    }

    private sealed class Owned(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var i in items)
            {
                i.Dispose();
            }
        }
    }
}
