using System.Diagnostics;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Training;
using Xunit.Abstractions;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class SuperResTrainingTests(ITestOutputHelper output)
{
    /// <summary>
    /// Axial slices of generator phantoms in [0, 1] (HU clipped to ±1000): <paramref name="cases"/> phantoms of
    /// 9 × 64 × 64 (seeds <paramref name="firstSeed"/>…, one finding kind each in turn), their 6 inner slices,
    /// area-averaged to 32 × 32 (partial-volume, like a scanner's coarser matrix). cases·6 × 1 × 32 × 32.
    /// </summary>
    internal static Tensor PhantomSlices(int cases, int firstSeed)
    {
        using var scope = NewDisposeScope();
        var kinds = Enum.GetValues<FindingKind>();
        var slices = new List<Tensor>();
        for (var i = 0; i < cases; i++)
        {
            var phantom = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = firstSeed + i, Slices = 9, Size = 64, FindingKinds = [kinds[i % kinds.Length]] });
            var unit = tensor(phantom.Volume.Voxels, new long[] { 9, 1, 64, 64 }).clamp(-1000, 1000) / 2000 + 0.5;
            slices.Add(nn.functional.adaptive_avg_pool2d(unit[2..8], new long[] { 32, 32 }));
        }

        return cat(slices.ToArray(), 0).MoveToOuterDisposeScope();
    }

    /// <summary>The low-res input the SR stage sees: an area (2×2 mean) down-sampling, smooth like CT-ViT output.</summary>
    internal static Tensor LowResOf(Tensor highRes, int lowSize) => nn.functional.adaptive_avg_pool2d(highRes, new long[] { lowSize, lowSize });

    private static double Psnr(Tensor estimate, Tensor truth)
    {
        using var scope = NewDisposeScope();
        var mse = (estimate.to(float64) - truth.to(float64)).pow(2).mean().item<double>();
        return 10 * Math.Log10(1.0 / mse);
    }

    internal static List<SuperResExample> Examples(Tensor high, Tensor low, Tensor text) =>
        Enumerable.Range(0, (int)high.shape[0]).Select(i => new SuperResExample(high[i], low[i], text)).ToList();

    [Fact]
    public async Task Resuming_from_a_checkpoint_continues_exactly_like_an_uninterrupted_run()
    {
        // No DisposeScope here: a scope must not live across an await (the continuation may run on another
        // thread, whose scope stack it would then corrupt); tensors of this test are left to the GC.
        var high = PhantomSlices(1, firstSeed: 5);
        var low = LowResOf(high, 16);
        manual_seed(9);
        var text = randn(5, 24);
        var options = new SuperResTrainingOptions { LearningRate = 1e-3, BatchSize = 2, GradientAccumulationSteps = 2, Seed = 17, CheckpointEvery = 2 };
        var dir = Path.Combine(Path.GetTempPath(), "sr-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            manual_seed(1);
            using var straightUnet = new SuperResUnet(SuperResUnetConfig.Tiny);
            var initial = straightUnet.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            using var straight = new SuperResTrainer(new SuperResDiffusion(straightUnet, SuperResDiffusionOptions.Tiny), options);
            var straightLosses = await straight.TrainAsync(Examples(high, low, text), 4);

            using var firstUnet = new SuperResUnet(SuperResUnetConfig.Tiny);
            firstUnet.load_state_dict(initial);
            using (var first = new SuperResTrainer(new SuperResDiffusion(firstUnet, SuperResDiffusionOptions.Tiny), options))
            {
                await first.TrainAsync(Examples(high, low, text), 2, dir);
            }

            using var resumedUnet = new SuperResUnet(SuperResUnetConfig.Tiny);
            using var resumed = new SuperResTrainer(new SuperResDiffusion(resumedUnet, SuperResDiffusionOptions.Tiny), options);
            resumed.Resume(dir);
            Assert.Equal(2, resumed.Step);
            var progress = new List<TrainingStep>();
            var resumedLosses = await resumed.TrainAsync(Examples(high, low, text), 4, dir, new InlineProgress(progress.Add));

            Assert.Equal(new[] { 3L, 4L }, progress.Select(p => p.Step));
            Assert.All(straightLosses, l => Assert.True(double.IsFinite(l) && l > 0));
            Assert.Equal(straightLosses[2], resumedLosses[0], 5);
            Assert.Equal(straightLosses[3], resumedLosses[1], 5);
            var a = straightUnet.state_dict();
            var maxDiff = resumedUnet.state_dict().Max(kv => (kv.Value - a[kv.Key]).abs().max().item<float>());
            var moved = a.Max(kv => (kv.Value - initial[kv.Key]).abs().max().item<float>());
            output.WriteLine($"losses {string.Join(", ", straightLosses.Select(l => l.ToString("F4")))}; max |resumed − straight| = {maxDiff:E3}; max weight change {moved:E3}");
            Assert.True(maxDiff < 1e-6, $"resumed weights differ by {maxDiff}");
            Assert.True(moved > 1e-4, "training did not change the weights");
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public void Loading_a_missing_checkpoint_says_what_to_do()
    {
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        using var trainer = new SuperResTrainer(new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny), new SuperResTrainingOptions());
        var ex = Assert.Throws<FileNotFoundException>(() => trainer.Resume(Path.Combine(Path.GetTempPath(), "no-such-sr-checkpoint")));
        Assert.Contains("no SR training checkpoint", ex.Message);
    }

    /// <summary>
    /// Learning proof (issue: tiny SR trained on phantom slices for a bounded number of CPU steps beats bicubic
    /// up-sampling in PSNR on held-out phantom slices). 16 → 32, the `tiny` Unet and diffusion settings; the
    /// samples come from the released sampler as generation runs it (25 steps, low-res noise level 0.1,
    /// dynamic thresholding). Training uses the imagen trainer's warm-up + cosine decay and low-res
    /// augmentation times in [0, 0.25] (see <see cref="SuperResDiffusionOptions.TrainingLowresNoiseMax"/>).
    /// </summary>
    [Fact]
    public async Task Tiny_sr_trained_on_phantom_slices_beats_bicubic_upsampling_on_held_out_phantoms()
    {
        // No DisposeScope here: a scope must not live across an await (the continuation may run on another
        // thread, whose scope stack it would then corrupt); tensors of this test are left to the GC.
        const int steps = 3000;
        var high = PhantomSlices(12, firstSeed: 0);                 // 72 training slices
        var low = LowResOf(high, 16);
        var heldHigh = PhantomSlices(2, firstSeed: 1000);           // 12 held-out slices from other phantoms
        var heldLow = LowResOf(heldHigh, 16);
        manual_seed(4);
        var text = randn(4, 24);

        manual_seed(0);
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        var diffusion = new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny with { TrainingLowresNoiseMax = 0.25 });
        var untrained = diffusion.SuperResolve(heldLow, text.unsqueeze(0), null, seed: 7, slicesPerBatch: 12);
        using var trainer = new SuperResTrainer(diffusion, new SuperResTrainingOptions
        {
            LearningRate = 3e-3, WarmupSteps = 50, DecayEndStep = steps, BatchSize = 8, Seed = 3,
        });
        var sw = Stopwatch.StartNew();
        var losses = await trainer.TrainAsync(Examples(high, low, text), steps);
        var trainSeconds = sw.Elapsed.TotalSeconds;
        var sr = diffusion.SuperResolve(heldLow, text.unsqueeze(0), null, seed: 7, slicesPerBatch: 12);
        var bicubic = nn.functional.interpolate(heldLow, new long[] { 32, 32 }, mode: InterpolationMode.Bicubic, align_corners: false).clamp(0, 1);

        double first = losses.Take(50).Average(), last = losses.TakeLast(50).Average();
        double psnrSr = Psnr(sr, heldHigh), psnrBicubic = Psnr(bicubic, heldHigh), psnrUntrained = Psnr(untrained, heldHigh);
        output.WriteLine($"{steps} steps × 8 phantom slices (16→32) in {trainSeconds:F0} s; loss first 50 {first:F4} → last 50 {last:F4}");
        output.WriteLine($"held-out 12 phantom slices, released 25-step sampler: PSNR untrained {psnrUntrained:F2} dB, trained SR {psnrSr:F2} dB, bicubic {psnrBicubic:F2} dB");
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(last < first / 4, $"loss did not go down: {first:F4} → {last:F4}");
        Assert.True(sr.min().item<float>() >= 0f && sr.max().item<float>() <= 1f);
        Assert.True(psnrSr > psnrBicubic, $"trained SR {psnrSr:F2} dB does not beat bicubic {psnrBicubic:F2} dB");
        Assert.True(psnrSr > psnrUntrained + 6, $"training gained only {psnrSr - psnrUntrained:F2} dB");
    }

    private sealed class InlineProgress(Action<TrainingStep> report) : IProgress<TrainingStep>
    {
        public void Report(TrainingStep value) => report(value);
    }
}
