using System.Text.Json;
using GenerateCT.Admin.V1;
using GenerateCT.Data.Audit;
using GenerateCT.Federation;
using GenerateCT.Federation.Weights;
using GenerateCT.Generation.V1;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Training;
using GenerateCT.Node.Federation;
using GenerateCT.Node.Jobs;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node.Tests;

/// <summary>Global versions on the node: installed as bundles, listed beside the local one, activated without a restart.</summary>
[Collection(GlobalVersionsNodeCollection.Name)]
public class GlobalVersionTests(GlobalVersionsNodeFixture fixture)
{
    private const string Prompt = "64 years old female: Cardiomegaly.";

    private NodeAdmin.NodeAdminClient Admin => new(fixture.Channel);

    private GlobalVersions Globals => fixture.Node.Services.GetRequiredService<GlobalVersions>();

    private GenerationModels Models => fixture.Node.Services.GetRequiredService<GenerationModels>();

    private static WeightSet Shifted(WeightSet weights, float by) => new(weights.Select(w => new WeightTensor(w.Name, w.Shape, [.. w.Data.Select(v => v + by)])));

    [Fact]
    public async Task A_global_version_is_listed_beside_the_local_bundle_and_activated_without_a_restart_while_a_running_job_keeps_its_bundle()
    {
        var asAdmin = fixture.As(fixture.Admin("it@hospital.example"));
        var weights = Shifted(BundleWeights.ReadStage(fixture.Bundle, ModelStage.MaskGit), 0.5f);
        var created = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var installed = await Globals.InstallAsync(4, ModelStage.MaskGit, weights, created, CancellationToken.None);

        // Content-addressed: the bundle's directory is named by its stage weights, which it carries.
        Assert.Equal(weights.ComputeVersionId(), Path.GetFileName(installed.Directory));
        Assert.Equal(weights.ComputeVersionId(), BundleWeights.ReadStage(installed.Directory, ModelStage.MaskGit).ComputeVersionId());
        Assert.Equal(installed, await Globals.InstallAsync(4, ModelStage.MaskGit, weights, created, CancellationToken.None));

        var models = (await Admin.ListModelsAsync(new ListModelsRequest(), asAdmin)).Models;
        var local = Assert.Single(models, m => m.Origin == "local");
        var global = Assert.Single(models, m => m.Name == "global-v4");
        Assert.True(local.Active);
        Assert.Equal(("global", 4, "maskgit", created.ToUnixTimeMilliseconds(), false), (global.Origin, global.VersionNumber, global.Stage, global.CreatedUnixMs, global.Active));
        Assert.NotEqual(local.Version, global.Version);
        Assert.Equal(local.Config, global.Config);

        // A job that began on the local bundle holds it across the switch.
        using var running = await Models.AcquireAsync(CancellationToken.None);
        Assert.Equal(local.Version, running.Version);

        var activated = await Admin.ActivateModelAsync(new ActivateModelRequest { Name = "global-v4" }, asAdmin);
        Assert.True(activated.Active);
        Assert.Equal(global.Version, activated.Version);
        Assert.Equal(global.Version, (await Admin.GetStatusAsync(new StatusRequest(), asAdmin)).ActiveModel);
        Assert.Equal(["global-v4"], (await Admin.ListModelsAsync(new ListModelsRequest(), asAdmin)).Models.Where(m => m.Active).Select(m => m.Name));

        var request = new GenerationRequest([Prompt], Seed: 21);
        var onOld = await running.Pipeline.GenerateAsync(request);
        running.Dispose();
        using (var next = await Models.AcquireAsync(CancellationToken.None))
        {
            Assert.Equal(global.Version, next.Version);
            var onNew = await next.Pipeline.GenerateAsync(request);
            Assert.NotEqual(onOld[0].Volume.Voxels, onNew[0].Volume.Voxels); // the replaced MaskGIT reaches the volumes
        }

        // A researcher's cohort is generated from the global version.
        var generation = new GenerateCT.Generation.V1.Generation.GenerationClient(fixture.Channel);
        var alice = fixture.As(fixture.Researcher("alice@hospital.example"));
        var accepted = await generation.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 1, Seed = 3, Formats = { OutputFormat.Png }, ModelVersion = global.Version }, alice);
        JobStatus job;
        do
        {
            await Task.Delay(100);
            job = await generation.GetJobAsync(new JobRef { JobId = accepted.JobId }, alice);
        }
        while (job.State is JobState.Queued or JobState.Running);

        Assert.Equal(JobState.Succeeded, job.State);

        var audit = await new AuditTrail(fixture.Node.DatabaseConnectionString).ReadAsync(DateTimeOffset.MinValue).ToListAsync();
        var install = audit.Last(r => r.Action == GlobalVersions.InstallAction);
        using (var detail = JsonDocument.Parse(install.Detail!))
        {
            Assert.Equal(4, detail.RootElement.GetProperty("version").GetInt32());
            Assert.Equal("maskgit", detail.RootElement.GetProperty("stage").GetString());
            Assert.Equal(global.Version, detail.RootElement.GetProperty("model").GetString());
        }

        Assert.Contains(audit, r => r.Action.Contains("ActivateModel", StringComparison.Ordinal) && r.Detail!.Contains("global-v4", StringComparison.Ordinal));

        // And back to the local bundle, again without a restart.
        Assert.Equal(local.Version, (await Admin.ActivateModelAsync(new ActivateModelRequest { Name = local.Name }, asAdmin)).Version);
        Assert.Equal(local.Version, Models.Version);
    }

    [Fact]
    public async Task Weights_whose_layout_differs_from_the_nodes_bundle_are_refused_and_nothing_is_listed()
    {
        var ctvit = BundleWeights.ReadStage(fixture.Bundle, ModelStage.CtVit);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Globals.InstallAsync(9, ModelStage.MaskGit, ctvit, DateTimeOffset.UtcNow, CancellationToken.None));
        Assert.Contains("tensors", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Globals.List(), v => v.Number == 9);
        Assert.False(Directory.Exists(Path.Combine(Globals.Root, ctvit.ComputeVersionId())));
    }

    [Fact]
    public async Task Activating_a_version_the_node_does_not_have_is_failed_precondition_and_changes_nothing()
    {
        var asAdmin = fixture.As(fixture.Admin("it@hospital.example"));
        var before = (await Admin.GetStatusAsync(new StatusRequest(), asAdmin)).ActiveModel;
        var e = await Assert.ThrowsAsync<RpcException>(() => Admin.ActivateModelAsync(new ActivateModelRequest { Name = "global-v99" }, asAdmin).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("ListModels", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, (await Admin.GetStatusAsync(new StatusRequest(), asAdmin)).ActiveModel);
    }

    [Fact]
    public void A_round_update_is_the_trained_weights_minus_the_base_and_restores_them_exactly()
    {
        var baseWeights = BundleWeights.ReadStage(fixture.Bundle, ModelStage.MaskGit);
        var trained = Shifted(baseWeights, 0.25f);
        var result = Path.Combine(fixture.WorkDirectory, "trained");
        BundleWeights.WriteDerivedBundle(fixture.Bundle, ModelStage.MaskGit, trained, result, "a round's local steps");
        var checkpoint = Path.Combine(result, ModelBundle.ReadManifest(result).Components.Single(c => ModelStage.MaskGit.Is(c.Stage)).File);

        var delta = RoundUpdate.Delta(fixture.Bundle, ModelStage.MaskGit, checkpoint);

        Assert.Equal(baseWeights.Select(t => t.Name), delta.Select(t => t.Name));
        Assert.All(delta, t => Assert.All(t.Data, v => Assert.Equal(0.25f, v, 1e-5f)));
        var restored = baseWeights.WithDelta(delta);
        Assert.All(restored.Zip(trained), p => Assert.Equal(p.Second.Data, p.First.Data, (a, b) => Math.Abs(a - b) <= 1e-6f * Math.Max(1f, Math.Abs(b))));

        var ctvitCheckpoint = Path.Combine(fixture.Bundle, ModelBundle.ReadManifest(fixture.Bundle).Components.Single(c => ModelStage.CtVit.Is(c.Stage)).File);
        Assert.ThrowsAny<FederationException>(() => RoundUpdate.Delta(fixture.Bundle, ModelStage.MaskGit, ctvitCheckpoint));
    }

    [Fact]
    public void Only_allow_listed_finite_scalars_are_reported_and_masked_accuracy_goes_by_its_federation_name()
    {
        var (reported, dropped) = RoundMetrics.Select(new Dictionary<string, double>
        {
            ["loss"] = 1.5,
            ["masked_accuracy"] = 0.25,
            ["learning_rate"] = 1e-4,
            ["psnr"] = double.NaN,
            ["critic_loss"] = 0.7,
            ["patient_count"] = 3,
        });

        Assert.Equal(new Dictionary<string, double> { ["loss"] = 1.5, ["masked_token_accuracy"] = 0.25, ["learning_rate"] = 1e-4 }, reported);
        Assert.Equal(["critic_loss", "patient_count", "psnr"], dropped.Order());
        Assert.Subset(RoundMetrics.Allowed.ToHashSet(), reported.Keys.ToHashSet());
    }
}
