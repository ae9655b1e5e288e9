using GenerateCT.Imaging;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public sealed class CtVitTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gct-train-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// The volume source of these tests (one function): procedural chest phantoms from GenerateCT.Imaging,
    /// each seed with its own anatomy and one finding kind in turn (none for every eighth).
    /// </summary>
    internal static List<Volume> TrainingVolumes(int count, int seed, int depth = 9, int size = 48)
    {
        var kinds = Enum.GetValues<FindingKind>();
        return [.. Enumerable.Range(0, count).Select(i => ChestPhantomGenerator.Generate(new PhantomSpec
        {
            Seed = (seed * 1000) + i,
            Slices = depth,
            Size = size,
            FindingKinds = i % (kinds.Length + 1) == kinds.Length ? [] : [kinds[i % (kinds.Length + 1)]],
        }).Volume)];
    }

    [Fact]
    public async Task Tiny_model_learns_to_reconstruct_held_out_chest_volumes()
    {
        manual_seed(0);
        using var train = new CtVolumeDataset(TrainingVolumes(48, seed: 1), CtVitConfig.Tiny);
        using var heldOut = new CtVolumeDataset(TrainingVolumes(8, seed: 2), CtVitConfig.Tiny);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var before = CtVitTrainer.Evaluate(model, heldOut, CPU);

        var options = new CtVitTrainingOptions { LearningRate = 2e-3, BatchSize = 4, Steps = 300, ProgressEvery = 50, Seed = 3 };
        using var trainer = new CtVitTrainer(model, train, options, CPU, output.WriteLine);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var reports = new List<TrainingStep>();
        await trainer.RunAsync(new SyncProgress(p =>
        {
            reports.Add(p);
            output.WriteLine($"step {p.Step}: loss {p.Loss:F4}, PSNR {p.Metrics["psnr"]:F2} dB, codebook usage {p.Metrics["codebook_usage"]:P0}");
        }));
        var after = CtVitTrainer.Evaluate(model, heldOut, CPU);

        output.WriteLine($"held-out PSNR before {before.Psnr:F2} dB → after {after.Psnr:F2} dB (+{after.Psnr - before.Psnr:F2} dB) in {watch.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"held-out codebook usage before {before.CodebookUsage:P0} → after {after.CodebookUsage:P0} ({after.CodesUsed} of {CtVitConfig.Tiny.CodebookSize} codes)");
        Assert.Equal(300, trainer.Step);
        Assert.Equal(6, reports.Count);
        Assert.True(after.Psnr >= before.Psnr + 6, $"PSNR gain {after.Psnr - before.Psnr:F2} dB < 6 dB");
        Assert.True(after.CodebookUsage > 0.25, $"codebook usage {after.CodebookUsage:P0} ≤ 25 %");
    }

    [Fact]
    public async Task Training_resumes_from_its_checkpoint_exactly_where_it_stopped()
    {
        using var data = new CtVolumeDataset(TrainingVolumes(6, seed: 4), CtVitConfig.Tiny);
        var path = Path.Combine(_dir, "run.gct");
        var options = new CtVitTrainingOptions { LearningRate = 1e-3, BatchSize = 2, Steps = 4, CheckpointPath = path, Seed = 5, ProgressEvery = 1 };

        manual_seed(0);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        using (var trainer = new CtVitTrainer(model, data, options, CPU))
        {
            await trainer.RunAsync(new SyncProgress(p => output.WriteLine($"step {p.Step}: loss {p.Loss:F4}")));
        }

        manual_seed(1);
        using var resumedModel = new CtVit.CtVit(CtVitConfig.Tiny);
        using var resumed = new CtVitTrainer(resumedModel, data, options with { Steps = 6 }, CPU);
        resumed.Resume(path);
        Assert.Equal(4, resumed.Step);
        using (var noGrad = no_grad())
        {
            foreach (var (a, b) in model.parameters().Zip(resumedModel.parameters()).Where(p => p.First.numel() > 0))
            {
                Assert.Equal(0f, (a - b).abs().max().item<float>());
            }
        }

        await resumed.RunAsync();
        Assert.Equal(6, resumed.Step);
        using var checkpoint = Checkpoints.ModelCheckpoint.Read(path);
        Assert.Equal(6, checkpoint.Info.Step);
        Assert.Contains("optimizer", checkpoint.Sections.Keys);
    }

    [Fact]
    public async Task After_warm_up_the_discriminator_trains_and_the_adversarial_loss_joins_while_perceptual_is_skipped_without_vgg_weights()
    {
        using var data = new CtVolumeDataset(TrainingVolumes(4, seed: 6), CtVitConfig.Tiny);
        manual_seed(2);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny with { UseVggAndGan = true });
        var discrBefore = model.Discr!.parameters().Select(p => p.detach().clone()).ToList();
        var warnings = new List<string>();
        var options = new CtVitTrainingOptions { LearningRate = 1e-3, BatchSize = 2, Steps = 3, DiscriminatorWarmupSteps = 1, ProgressEvery = 1 };
        using var trainer = new CtVitTrainer(model, data, options, CPU, warnings.Add);
        var reports = new List<TrainingStep>();
        await trainer.RunAsync(new SyncProgress(reports.Add));

        foreach (var r in reports)
        {
            output.WriteLine($"step {r.Step}: loss {r.Loss:F4}, {string.Join(", ", r.Metrics.Select(m => $"{m.Key} {m.Value:G4}"))}");
        }

        Assert.Contains(warnings, w => w.Contains("perceptual loss skipped", StringComparison.Ordinal));
        Assert.False(trainer.PerceptualLossEnabled);
        Assert.False(reports[0].Metrics.ContainsKey("adversarial_loss")); // warm-up: autoencoder only
        Assert.All(reports.Skip(1), r =>
        {
            Assert.True(double.IsFinite(r.Metrics["adversarial_loss"]));
            Assert.True(double.IsFinite(r.Metrics["discriminator_loss"]));
            Assert.True(double.IsFinite(r.Loss));
        });
        using var noGrad = no_grad();
        Assert.Contains(model.Discr!.parameters().Zip(discrBefore), p => (p.First - p.Second).abs().max().item<float>() > 0);
    }

    [Fact]
    public void With_vgg_weights_the_perceptual_loss_is_part_of_the_objective()
    {
        using var data = new CtVolumeDataset(TrainingVolumes(2, seed: 7), CtVitConfig.Tiny);
        manual_seed(4);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny with { UseVggAndGan = true });
        var options = new CtVitTrainingOptions { LearningRate = 1e-3, BatchSize = 1, Steps = 2, DiscriminatorWarmupSteps = 100 };
        using var trainer = new CtVitTrainer(model, data, options, CPU);
        trainer.EnablePerceptualLoss("the test's own VGG16 initialisation");
        var vggBefore = model.Vgg!.parameters().First().detach().clone();

        var step = trainer.TrainStep();
        output.WriteLine($"loss {step.Loss:F4} = L2 {step.ReconstructionLoss:F4} + commit {step.CommitLoss:F4} + perceptual {step.PerceptualLoss:E3}");

        Assert.True(step.PerceptualLoss is > 0 and < double.PositiveInfinity);
        Assert.Equal(step.ReconstructionLoss + step.CommitLoss + step.PerceptualLoss!.Value, step.Loss, 4);
        using var noGrad = no_grad();
        Assert.Equal(0f, (model.Vgg!.parameters().First() - vggBefore).abs().max().item<float>()); // VGG stays frozen
    }

    [Fact]
    public void Preprocessing_clips_hounsfield_units_scales_by_1000_and_resamples_to_the_config_size()
    {
        var v = new Volume(3, 8, 8);
        Array.Fill(v.Voxels, 2500f);
        v[0, 0, 0] = -3000;
        using var t = CtVolumeDataset.Preprocess(v, 5, 32);
        Assert.Equal(new long[] { 1, 5, 32, 32 }, t.shape);
        Assert.Equal(1f, t.max().item<float>());
        Assert.Equal(-1f, t.min().item<float>());
    }

    private sealed class SyncProgress(Action<TrainingStep> report) : IProgress<TrainingStep>
    {
        public void Report(TrainingStep value) => report(value);
    }
}
