using System.Text.Json;
using GenerateCT.Data.Audit;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Coordinator.Tests;

/// <summary>
/// Training rounds over real mutual TLS gRPC and real PostgreSQL with tiny weight sets: registration,
/// announcements, uploads, hand-computed aggregation, refusals, deadlines, restarts and roles.
/// </summary>
public class RoundTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Two_nodes_upload_and_the_round_completes_with_the_hand_computed_fedavg_version()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        await h.EnrolAsync("alpha", "beta");
        var op = h.Ops();
        var baseWeights = Weights(1);
        var registered = await RoundHarness.RegisterAsync(op, baseWeights, label: "released 2026-11");
        Assert.Equal((1L, "released 2026-11", "ops-anna"), (registered.Version, registered.Label, registered.CreatedBy));
        Assert.Equal(baseWeights.ComputeVersionId(), Assert.Single(registered.Stages).Sha256);
        Assert.True(File.Exists(Path.Combine(h.DataDirectory, "models", baseWeights.ComputeVersionId() + ".gctw")));
        Assert.Equal(1, (await h.Node("alpha").EnrolAsync(new EnrolRequest())).CurrentModelVersion);

        var round = await op.StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 5, LearningRate = 1e-4, BatchSize = 2, MinNodes = 2, DeadlineSeconds = 60 });
        Assert.Equal(("open", 1L, 2), (round.State, round.BaseVersion, round.UpdatesExpected));

        // The node learns the round (and who takes part) from the stream, and downloads its base.
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            using var watch = h.Node("alpha").WatchRounds(new WatchRoundsRequest { KnownRound = 0 }, cancellationToken: cts.Token);
            Assert.True(await watch.ResponseStream.MoveNext(cts.Token));
            var a = watch.ResponseStream.Current;
            Assert.Equal((round.Round, ModelStage.Maskgit, 1L, 5, 2, RoundStrategy.Fedavg, 2), (a.Round, a.Stage, a.BaseModelVersion, a.LocalSteps, a.BatchSize, a.Strategy, a.MinNodes));
            Assert.Equal(["alpha", "beta"], a.Participants);
        }

        Assert.Equal(baseWeights.ComputeVersionId(), (await RoundHarness.DownloadAsync(h.Node("alpha"), 1)).ComputeVersionId());

        var deltaA = Weights(2);
        var deltaB = Weights(3);
        var first = await RoundHarness.UploadAsync(h.Node("alpha"), round.Round, 1, deltaA, samples: 30);
        Assert.True(first.Accepted, first.Reason);
        var again = await RoundHarness.UploadAsync(h.Node("alpha"), round.Round, 1, deltaA, samples: 30);
        Assert.False(again.Accepted);
        Assert.StartsWith("duplicate", again.Reason, StringComparison.Ordinal);
        var wrongBase = await RoundHarness.UploadAsync(h.Node("beta"), round.Round, 7, deltaB, samples: 10);
        Assert.False(wrongBase.Accepted);
        Assert.StartsWith("wrong base version", wrongBase.Reason, StringComparison.Ordinal);
        var otherLayout = new WeightSet([new WeightTensor("ctvit.encoder.weight", [4, 4], new float[16])]);
        var mismatch = await RoundHarness.UploadAsync(h.Node("beta"), round.Round, 1, otherLayout, samples: 10);
        Assert.False(mismatch.Accepted);
        Assert.StartsWith("layout mismatch", mismatch.Reason, StringComparison.Ordinal);
        Assert.True((await h.Node("alpha").ReportMetricsAsync(new MetricsReport { Round = round.Round, Stage = ModelStage.Maskgit, Scalars = { ["loss"] = 0.75 } })).Refused.Count == 0);
        var second = await RoundHarness.UploadAsync(h.Node("beta"), round.Round, 1, deltaB, samples: 10);
        Assert.True(second.Accepted, second.Reason);

        var done = await h.WaitForAsync(round.Round, "completed");
        Assert.Equal((2L, 2), (done.ResultVersion, done.UpdatesReceived));
        Assert.Equal(0.75, done.Nodes.Single(n => n.NodeId == "alpha").Metrics["loss"]);
        Assert.Equal(("accepted", 10L), (done.Nodes.Single(n => n.NodeId == "beta").State, done.Nodes.Single(n => n.NodeId == "beta").SampleCount));

        // v2 = base + (30·Δa + 10·Δb) / 40, computed here in double.
        var v2 = await RoundHarness.DownloadAsync(h.Node("beta"), 2);
        for (int t = 0; t < baseWeights.Count; t++)
        {
            for (int j = 0; j < baseWeights[t].Data.Length; j++)
            {
                double expected = baseWeights[t].Data[j] + (((30.0 * deltaA[t].Data[j]) + (10.0 * deltaB[t].Data[j])) / 40.0);
                Assert.Equal(expected, v2[t].Data[j], 1e-6);
            }
        }

        var models = await op.ListModelsAsync(new ListModelsRequest());
        Assert.Equal([1L, 2L], models.Versions.Select(v => v.Version));
        Assert.Equal((1L, round.Round, "coordinator"), (models.Versions[1].ParentVersion, models.Versions[1].FromRound, models.Versions[1].CreatedBy));
        Assert.Equal(v2.ComputeVersionId(), models.Versions[1].Stages.Single().Sha256);
        Assert.Equal(2, (await h.Node("beta").EnrolAsync(new EnrolRequest())).CurrentModelVersion);

        var audit = await AuditAsync(h.ConnectionString);
        var start = Assert.Single(audit, r => r.Action == "operator:start-round");
        Assert.Equal("ops-anna", start.Actor);
        Assert.Contains("CN=ops-anna", Detail(start, "subject"), StringComparison.Ordinal);
        Assert.Equal(["round:close", "round:complete"], audit.Where(r => r.Action.StartsWith("round:", StringComparison.Ordinal)).Select(r => r.Action));
        Assert.Equal(3, audit.Count(r => r.Action == "federation:update" && r.Outcome == "refused"));
        Assert.True((await new AuditTrail(h.ConnectionString).VerifyAsync()).Intact);
    }

    [Fact]
    public async Task Fewer_than_k_at_the_deadline_fails_the_round_keeps_the_model_and_a_late_update_is_refused()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        await h.EnrolAsync("alpha", "beta");
        var op = h.Ops();
        await RoundHarness.RegisterAsync(op, Weights(1));
        var round = await op.StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 2, DeadlineSeconds = 2 });

        Assert.True((await RoundHarness.UploadAsync(h.Node("alpha"), round.Round, 1, Weights(2), 5)).Accepted);
        var failed = await h.WaitForAsync(round.Round, "failed");
        Assert.Contains("1 of the 2", failed.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, failed.ResultVersion);

        var late = await RoundHarness.UploadAsync(h.Node("beta"), round.Round, 1, Weights(3), 5);
        Assert.False(late.Accepted);
        Assert.StartsWith("late", late.Reason, StringComparison.Ordinal);
        await using (var db = h.Db())
        {
            var receipt = await db.RoundUpdates.SingleAsync(u => u.NodeId == "beta");
            Assert.Equal(("refused", late.Reason), (receipt.State, receipt.Reason));
            Assert.Equal(1, await db.ModelVersions.CountAsync());
        }

        Assert.Equal(1, (await h.Node("alpha").EnrolAsync(new EnrolRequest())).CurrentModelVersion);
        var unknown = await RoundHarness.UploadAsync(h.Node("beta"), 99, 1, Weights(3), 5);
        Assert.Equal((false, "unknown round 99"), (unknown.Accepted, unknown.Reason));
        Assert.Contains(await AuditAsync(h.ConnectionString), r => r.Action == "round:fail" && r.Outcome == "failure");
    }

    [Fact]
    public async Task FedAdam_rounds_use_and_persist_the_server_optimizer_state()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        await h.EnrolAsync("alpha");
        var op = h.Ops();
        var x0 = Weights(1);
        await RoundHarness.RegisterAsync(op, x0);
        const double Eta = 0.05, B1 = 0.9, B2 = 0.99, Tau = 1e-3;
        var request = new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 60, Strategy = RoundStrategy.Fedadam, ServerLearningRate = Eta, Beta1 = B1, Beta2 = B2, Tau = Tau };

        var d1 = Weights(2);
        var r1 = await op.StartRoundAsync(request);
        Assert.True((await RoundHarness.UploadAsync(h.Node("alpha"), r1.Round, 1, d1, 4)).Accepted);
        Assert.Equal(2, (await h.WaitForAsync(r1.Round, "completed")).ResultVersion);
        string firstState;
        await using (var db = h.Db())
        {
            firstState = (await db.ServerOptimizerStates.SingleAsync(s => s.Stage == "maskgit")).Path;
            Assert.True(File.Exists(firstState));
        }

        var d2 = Weights(3);
        var r2 = await op.StartRoundAsync(request);
        Assert.Equal(2, r2.BaseVersion);
        Assert.True((await RoundHarness.UploadAsync(h.Node("alpha"), r2.Round, 2, d2, 4)).Accepted);
        Assert.Equal(3, (await h.WaitForAsync(r2.Round, "completed")).ResultVersion);
        await using (var db = h.Db())
        {
            var state = await db.ServerOptimizerStates.SingleAsync(s => s.Stage == "maskgit");
            Assert.Equal(r2.Round, state.RoundId);
            Assert.NotEqual(firstState, state.Path);
        }

        // Reddi et al. Algorithm 2 by hand: m = β1·m + (1−β1)·Δ, v = β2·v + (1−β2)·Δ², x = x + η·m/(√v + τ); v₋₁ = τ².
        var x2 = await RoundHarness.DownloadAsync(h.Node("alpha"), 3);
        for (int t = 0; t < x0.Count; t++)
        {
            for (int j = 0; j < x0[t].Data.Length; j++)
            {
                double m = (1 - B1) * d1[t].Data[j];
                double v = (B2 * Tau * Tau) + ((1 - B2) * d1[t].Data[j] * d1[t].Data[j]);
                double x = x0[t].Data[j] + (Eta * m / (Math.Sqrt(v) + Tau));
                m = (B1 * m) + ((1 - B1) * d2[t].Data[j]);
                v = (B2 * v) + ((1 - B2) * d2[t].Data[j] * d2[t].Data[j]);
                x += Eta * m / (Math.Sqrt(v) + Tau);
                Assert.Equal(x, x2[t].Data[j], 1e-5);
            }
        }
    }

    [Fact]
    public async Task An_upload_and_a_download_dropped_mid_stream_resume_from_their_positions()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        await h.EnrolAsync("alpha");
        var op = h.Ops();
        await RoundHarness.RegisterAsync(op, Weights(1));
        var round = await op.StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 60 });
        var delta = Weights(2);
        var chunks = ChunkWriter.Chunks(delta, RoundHarness.SmallChunk).ToList();
        var header = new UpdateHeader { Round = round.Round, Stage = ModelStage.Maskgit, BaseModelVersion = 1, SampleCount = 8 };
        var node = h.Node("alpha");

        using (var cts = new CancellationTokenSource())
        {
            var dropped = node.UploadUpdate(cancellationToken: cts.Token);
            await dropped.RequestStream.WriteAsync(new UpdateMessage { Header = header });
            await dropped.RequestStream.WriteAsync(new UpdateMessage { Chunk = chunks[0] });
            await Task.Delay(1000); // the coordinator has the chunk; the connection drops before the rest
            cts.Cancel();
            await Assert.ThrowsAnyAsync<Exception>(() => dropped.ResponseAsync);
            dropped.Dispose();
        }

        // Answered once the dropped upload let go of its spool (flushed: what arrived is acknowledged).
        var position = await node.GetUploadPositionAsync(new UploadPositionRequest { Round = round.Round, Stage = ModelStage.Maskgit });
        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 250 }, position); // one chunk of 250 floats

        using var resumed = node.UploadUpdate();
        await resumed.RequestStream.WriteAsync(new UpdateMessage { Header = new UpdateHeader(header) { ResumeFrom = position } });
        foreach (var c in ChunkWriter.Chunks(delta, RoundHarness.SmallChunk, position))
        {
            await resumed.RequestStream.WriteAsync(new UpdateMessage { Chunk = c });
        }

        await resumed.RequestStream.CompleteAsync();
        var answer = await resumed;
        Assert.True(answer.Accepted, answer.Reason);
        Assert.Equal(new TransferPosition { TensorIndex = delta.Count }, answer.Acknowledged);
        Assert.Equal(2, (await h.WaitForAsync(round.Round, "completed")).ResultVersion);
        await using (var db = h.Db())
        {
            Assert.Equal(delta.ComputeVersionId(), (await db.RoundUpdates.SingleAsync()).UpdateSha256);
        }

        // A download dropped after its first tensor resumes from the node's position.
        var assembler = new ChunkAssembler();
        using (var cts = new CancellationTokenSource())
        {
            using var first = node.DownloadModel(new DownloadModelRequest { ModelVersion = 2, Stage = ModelStage.Maskgit }, cancellationToken: cts.Token);
            Assert.True(await first.ResponseStream.MoveNext(cts.Token));
            assembler.Add(first.ResponseStream.Current);
            cts.Cancel();
        }

        Assert.Equal(new TransferPosition { TensorIndex = 1 }, assembler.Position);
        using var rest = node.DownloadModel(new DownloadModelRequest { ModelVersion = 2, Stage = ModelStage.Maskgit, ResumeFrom = assembler.Position });
        await foreach (var chunk in rest.ResponseStream.ReadAllAsync())
        {
            assembler.Add(chunk);
        }

        await using var check = h.Db();
        Assert.Equal((await check.ModelWeights.SingleAsync(w => w.VersionId == 2)).Sha256, assembler.ToWeightSet().ComputeVersionId());
    }

    [Fact]
    public async Task A_restart_mid_round_keeps_acknowledged_updates_and_an_interrupted_aggregation_is_redone()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        await h.EnrolAsync("alpha", "beta");
        var baseWeights = Weights(1);
        await RoundHarness.RegisterAsync(h.Ops(), baseWeights);
        var round = await h.Ops().StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 2, DeadlineSeconds = 120 });
        var deltaA = Weights(2);
        var deltaB = Weights(3);
        Assert.True((await RoundHarness.UploadAsync(h.Node("alpha"), round.Round, 1, deltaA, 3)).Accepted);

        await h.RestartAsync();

        Assert.Equal(1, (await h.WaitForAsync(round.Round, "open")).UpdatesReceived);
        Assert.True((await RoundHarness.UploadAsync(h.Node("beta"), round.Round, 1, deltaB, 1)).Accepted);
        var done = await h.WaitForAsync(round.Round, "completed");
        var v2 = await RoundHarness.DownloadAsync(h.Node("alpha"), done.ResultVersion);
        Assert.Equal(baseWeights[0].Data[7] + (((3.0 * deltaA[0].Data[7]) + deltaB[0].Data[7]) / 4.0), v2[0].Data[7], 1e-6);

        // A crash after the round turned "aggregating" and before its version was committed: the restart aggregates again.
        await h.StopAsync();
        await using (var db = h.Db())
        {
            await db.ModelWeights.Where(w => w.VersionId == done.ResultVersion).ExecuteDeleteAsync();
            await db.ModelVersions.Where(v => v.Id == done.ResultVersion).ExecuteDeleteAsync();
            await db.Rounds.Where(r => r.Id == round.Round).ExecuteUpdateAsync(s => s.SetProperty(r => r.State, "aggregating").SetProperty(r => r.ResultVersion, (long?)null));
        }

        File.Delete(Path.Combine(h.DataDirectory, "models", v2.ComputeVersionId() + ".gctw"));
        await h.RestartAsync();
        var redone = await h.WaitForAsync(round.Round, "completed");
        Assert.NotEqual(done.ResultVersion, redone.ResultVersion);
        Assert.Equal(v2.ComputeVersionId(), (await RoundHarness.DownloadAsync(h.Node("alpha"), redone.ResultVersion)).ComputeVersionId());
    }

    [Fact]
    public async Task Metrics_outside_the_allow_list_are_refused_and_not_kept()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        await h.EnrolAsync("alpha");
        await RoundHarness.RegisterAsync(h.Ops(), Weights(1));
        var round = await h.Ops().StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 60 });

        var ack = await h.Node("alpha").ReportMetricsAsync(new MetricsReport
        {
            Round = round.Round,
            Stage = ModelStage.Maskgit,
            Scalars = { ["loss"] = 1.25, ["psnr"] = 31.5, ["patient_age"] = 63, ["masked_token_accuracy"] = double.NaN },
        });

        Assert.Equal(["loss", "psnr"], ack.Accepted);
        Assert.Equal(["masked_token_accuracy", "patient_age"], ack.Refused);
        Assert.Contains("loss, masked_token_accuracy, psnr", ack.Reason, StringComparison.Ordinal);
        await using var db = h.Db();
        Assert.Equal([("loss", 1.25), ("psnr", 31.5)], (await db.RoundMetrics.OrderBy(m => m.Name).ToListAsync()).Select(m => (m.Name, m.Value)));
    }

    [Fact]
    public async Task Operator_methods_refuse_node_certificates_and_node_methods_refuse_operators()
    {
        await using var h = await RoundHarness.StartAsync(postgres);
        var asNode = new Operator.OperatorClient(h.Channel("alpha"));
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await asNode.StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 5 }));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await asNode.ListModelsAsync(new ListModelsRequest()))).StatusCode);

        var asOperator = new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(h.Channel("ops-anna"));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await asOperator.GetUploadPositionAsync(new UploadPositionRequest { Round = 1, Stage = ModelStage.Maskgit }))).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(async () => await asOperator.ReportMetricsAsync(new MetricsReport { Round = 1 }))).StatusCode);

        // An operator's refused request is audited with its reason.
        var invalid = await Assert.ThrowsAsync<RpcException>(async () => await h.Ops().StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 0, DeadlineSeconds = 5 }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        var noBase = await Assert.ThrowsAsync<RpcException>(async () => await h.Ops().StartRoundAsync(new StartRoundRequest { Stage = ModelStage.Maskgit, LocalSteps = 1, LearningRate = 0.1, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 5 }));
        Assert.Equal(StatusCode.FailedPrecondition, noBase.StatusCode);

        var audit = await AuditAsync(h.ConnectionString);
        Assert.Equal(4, audit.Count(r => r.Outcome == "denied" && Detail(r, "refusal") == "wrong-role"));
        var refused = audit.Where(r => r.Action == "operator:start-round").ToList();
        Assert.All(refused, r => Assert.Equal(("ops-anna", "refused"), (r.Actor, r.Outcome)));
        Assert.Equal(["min_nodes (k) must be at least 1", noBase.Status.Detail], refused.Select(r => Detail(r, "reason")));
        await using var db = h.Db();
        Assert.Empty(await db.Rounds.ToListAsync());
    }

    /// <summary>A tiny MaskGIT-like layout (a weight spanning two 1000-byte chunks, a bias, a scalar) with reproducible values.</summary>
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

    private static async Task<List<AuditRecord>> AuditAsync(string connectionString)
    {
        var rows = new List<AuditRecord>();
        await foreach (var row in new AuditTrail(connectionString).ReadAsync(DateTimeOffset.UnixEpoch))
        {
            rows.Add(row);
        }

        return rows;
    }

    private static string? Detail(AuditRecord record, string name) =>
        JsonDocument.Parse(record.Detail!).RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
