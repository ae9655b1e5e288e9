using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using GenerateCT.Admin.V1;
using GenerateCT.Data;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Node.Security;
using GenerateCT.Testing;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Tests;

/// <summary>Local fine-tuning as a node job: started by the Admin, run by the node's worker on its own training set.</summary>
[Collection(TrainingNodeCollection.Name)]
public class TrainingJobTests(TrainingNodeFixture node)
{
    private NodeAdmin.NodeAdminClient Admin => new(node.Channel);

    private CallOptions AsAdmin => node.Call(node.As(NodeRoles.Admin, "it@hospital.example"));

    private static async Task<TrainingJobInfo> WaitForAsync(NodeAdmin.NodeAdminClient admin, Func<CallOptions> call, string job, Func<TrainingJobInfo, bool> until, TimeSpan timeout, List<TrainingJobInfo>? seen = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var info = await admin.GetTrainingJobAsync(new GetTrainingJobRequest { JobId = job }, call());
            seen?.Add(info);
            if (until(info))
            {
                return info;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"training job {job} is {info.State} at step {info.Step} after {timeout}: {info.Error}");
            }

            await Task.Delay(25);
        }
    }

    private static bool Finished(TrainingJobInfo j) => j.State is "succeeded" or "failed";

    [Fact]
    public async Task A_maskgit_job_fine_tunes_the_active_bundle_on_the_reported_volumes_and_stores_new_weights()
    {
        var started = await Admin.StartTrainingAsync(new StartTrainingRequest { Stage = "maskgit", Steps = 6, LearningRate = 1e-3, BatchSize = 2, CheckpointEvery = 2, Seed = 3 }, AsAdmin);
        Assert.Equal("queued", started.State);
        Assert.Equal("local", started.Origin);
        Assert.StartsWith("tiny-", started.BaseModel);

        var seen = new List<TrainingJobInfo>();
        var done = await WaitForAsync(Admin, () => AsAdmin, started.JobId, Finished, TimeSpan.FromMinutes(2), seen);
        Assert.True(done.State == "succeeded", done.Error);
        Assert.Equal(6, done.Step);
        Assert.Equal(4, done.SampleCount);                          // the volumes with a report; the one without is CT-ViT's only
        Assert.Contains("masked_accuracy", done.Metrics.Keys);
        Assert.True(double.IsFinite(done.Metrics["loss"]) && done.Metrics["loss"] > 0);
        Assert.Equal(done.Metrics["loss"], done.Loss);
        // The steward sees the job in the list too (what ran on the node's data, by whom).
        var listed = await Admin.ListTrainingJobsAsync(new ListTrainingJobsRequest { Limit = 50 }, node.Call(node.As(NodeRoles.DataSteward, "steward@hospital.example")));
        var entry = Assert.Single(listed.Jobs, j => j.JobId == started.JobId);
        Assert.Equal(("succeeded", "it@hospital.example", done.ResultSha256), (entry.State, entry.RequestedBy, entry.ResultSha256));
        // Progress never goes backwards.
        var steps = seen.Select(s => s.Step).ToList();
        Assert.Equal(steps.Order(), steps);

        // The result: a MaskGIT checkpoint the row points to, with its hash, and weights the base bundle does not have.
        await using var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        var row = await db.TrainingJobs.SingleAsync(j => j.Id == Guid.ParseExact(started.JobId, "N"));
        var result = Path.Combine(node.Node.Options.DataDirectory, row.ResultPath!);
        Assert.Equal(done.ResultSha256, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(result))));
        Assert.NotEqual(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(node.Bundle, "maskgit.gct")))), done.ResultSha256);
        using (var checkpoint = ModelCheckpoint.Read(result))
        {
            Assert.Equal("maskgit", checkpoint.Info.Stage);
        }

        // Checkpoints are removed once the result is in; start and finish are in the audit trail.
        Assert.False(Directory.Exists(Path.Combine(Path.GetDirectoryName(result)!, "checkpoints")));
        var audit = (await db.AuditEvents.Where(a => a.Action.StartsWith("training:")).OrderBy(a => a.Id).ToListAsync()).Where(a => a.Detail!.Contains(started.JobId)).ToList();
        Assert.Contains(audit, a => a.Action == "training:start" && a.Actor == "it@hospital.example" && a.Outcome == "success");
        var finish = Assert.Single(audit, a => a.Action == "training:finish");
        Assert.Equal("success", finish.Outcome);
        Assert.Equal(4, JsonDocument.Parse(finish.Detail!).RootElement.GetProperty("samples").GetInt32());
    }

    [Fact]
    public async Task A_job_whose_loss_diverges_fails_with_the_reason_and_the_worker_runs_the_next_job()
    {
        var bad = await Admin.StartTrainingAsync(new StartTrainingRequest { Stage = "maskgit", Steps = 5, LearningRate = 1e30, BatchSize = 2, Seed = 1 }, AsAdmin);
        var good = await Admin.StartTrainingAsync(new StartTrainingRequest { Stage = "ctvit", Steps = 2, LearningRate = 1e-3, BatchSize = 2, Seed = 1 }, AsAdmin);

        var failed = await WaitForAsync(Admin, () => AsAdmin, bad.JobId, Finished, TimeSpan.FromMinutes(2));
        Assert.Equal("failed", failed.State);
        Assert.Contains("diverged", failed.Error);
        Assert.Equal("", failed.ResultSha256);

        var next = await WaitForAsync(Admin, () => AsAdmin, good.JobId, Finished, TimeSpan.FromMinutes(2));
        Assert.True(next.State == "succeeded", next.Error);
        Assert.Equal(5, next.SampleCount);                          // CT-ViT learns from every volume, report or not

        await using var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        var finish = (await db.AuditEvents.Where(a => a.Action == "training:finish").ToListAsync()).Single(a => a.Detail!.Contains(bad.JobId));
        Assert.Equal("failure", finish.Outcome);
        Assert.Contains("diverged", JsonDocument.Parse(finish.Detail!).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_superres_job_trains_the_first_sr_stage_on_slices_of_ct_vit_reconstructions_and_checkpoints_its_directory()
    {
        var started = await Admin.StartTrainingAsync(new StartTrainingRequest { Stage = "superres", Steps = 2, LearningRate = 1e-4, BatchSize = 2, CheckpointEvery = 1, Seed = 2 }, AsAdmin);
        var done = await WaitForAsync(Admin, () => AsAdmin, started.JobId, Finished, TimeSpan.FromMinutes(2));
        Assert.True(done.State == "succeeded", done.Error);
        Assert.Equal(2, done.Step);
        Assert.Equal(4 * 9, done.SampleCount);                     // one example per slice of each reported volume

        await using var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        var row = await db.TrainingJobs.SingleAsync(j => j.Id == Guid.ParseExact(started.JobId, "N"));
        using var checkpoint = ModelCheckpoint.Read(Path.Combine(node.Node.Options.DataDirectory, row.ResultPath!));
        Assert.Equal("superres", checkpoint.Info.Stage);
    }

    [Fact]
    public async Task A_request_the_node_cannot_run_is_refused_before_it_is_queued()
    {
        foreach (var (request, expected) in new (StartTrainingRequest, string)[]
        {
            (new() { Stage = "vae", Steps = 2, LearningRate = 1e-3, BatchSize = 1 }, "not a model stage"),
            (new() { Stage = "maskgit", Steps = 0, LearningRate = 1e-3, BatchSize = 1 }, "steps"),
            (new() { Stage = "maskgit", Steps = 2, LearningRate = double.NaN, BatchSize = 1 }, "learning_rate"),
            (new() { Stage = "maskgit", Steps = 2, LearningRate = 1e-3, BatchSize = 0 }, "batch_size"),
        })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => Admin.StartTrainingAsync(request, AsAdmin).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains(expected, e.Status.Detail);
        }
    }

    [Fact]
    public async Task A_job_the_node_stops_mid_way_resumes_from_its_last_checkpoint_after_the_restart()
    {
        var dir = Scratch.NewDirectory("gct-node-train-restart");
        try
        {
            const int Steps = 60;
            var request = new StartTrainingRequest { Stage = "maskgit", Steps = Steps, LearningRate = 1e-3, BatchSize = 1, CheckpointEvery = 2, Seed = 7 };
            string job;
            int checkpoint;
            await using (var first = await node.StartNodeAsync(dir))
            {
                await TrainingNodeFixture.PushAsync(first, [], [[FindingKind.Cardiomegaly], [], [FindingKind.PleuralEffusion]], seed: 300);
                using var channel = GenerateCT.Hosting.GrpcClientChannels.ForPinnedServer(first.GrpcAddress, first.Certificate);
                var admin = new NodeAdmin.NodeAdminClient(channel);
                var started = await admin.StartTrainingAsync(request, AsAdmin);
                job = started.JobId;

                // Progress is visible while it runs: the step and the checkpoint a restart resumes from.
                var running = await WaitForAsync(admin, () => AsAdmin, job, j => j.State == "running" && j.CheckpointStep >= 2, TimeSpan.FromMinutes(2));
                Assert.True(running.Step >= running.CheckpointStep);
                Assert.True(running.Step < Steps, "the job finished before the node could be stopped");
                checkpoint = running.CheckpointStep;
            }

            await using (var second = await node.StartNodeAsync(dir))
            {
                using var channel = GenerateCT.Hosting.GrpcClientChannels.ForPinnedServer(second.GrpcAddress, second.Certificate);
                var admin = new NodeAdmin.NodeAdminClient(channel);
                var done = await WaitForAsync(admin, () => AsAdmin, job, Finished, TimeSpan.FromMinutes(3));
                Assert.True(done.State == "succeeded", done.Error);
                Assert.Equal(Steps, done.Step);

                await using var db = DatabaseSchema.CreateNodeDb(second.DatabaseConnectionString);
                var resume = await db.AuditEvents.SingleAsync(a => a.Action == "training:resume");
                Assert.Equal("success", resume.Outcome);
                var resumedAt = JsonDocument.Parse(resume.Detail!).RootElement.GetProperty("step").GetInt32();
                Assert.InRange(resumedAt, checkpoint, Steps - 1);
                Assert.Equal(2 * (resumedAt / 2), resumedAt);
                // The node's stop interrupted the job: no failure was recorded, and it ran on to its last step.
                Assert.False(await db.AuditEvents.AnyAsync(a => a.Action == "training:finish" && a.Outcome == "failure"));

                // Resuming restored weights, optimizer state and step exactly: the same job run without a
                // stop ends with the same weights.
                var again = await admin.StartTrainingAsync(request, AsAdmin);
                var uninterrupted = await WaitForAsync(admin, () => AsAdmin, again.JobId, Finished, TimeSpan.FromMinutes(3));
                Assert.True(uninterrupted.State == "succeeded", uninterrupted.Error);
                var results = await db.TrainingJobs.OrderBy(j => j.CreatedAt).Select(j => j.ResultPath!).ToListAsync();
                using var resumed = ModelCheckpoint.Read(Path.Combine(dir, results[0]));
                using var straight = ModelCheckpoint.Read(Path.Combine(dir, results[1]));
                Assert.Equal(straight.State.Keys.Order(), resumed.State.Keys.Order());
                Assert.All(straight.State, kv => Assert.True(kv.Value.allclose(resumed.State[kv.Key], rtol: 0, atol: 0), $"{kv.Key} differs after the resume"));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
