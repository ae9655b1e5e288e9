using System.Diagnostics;
using GenerateCT.Model.SuperRes;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class SuperResTrainingTests(ITestOutputHelper output)
{
    /// <summary>
    /// Training/evaluation slices in [0, 1], count × 1 × size × size. Procedural 2-D slices with structure
    /// (soft-edged body ellipse, disks of several intensities, sharp-edged rectangles, a sinusoidal texture
    /// band) until the phantom generator lands; switch this one function to phantom slices then.
    /// </summary>
    internal static Tensor TrainingSlices(int count, int size, int seed)
    {
        var rng = new Random(seed);
        var data = new float[count * size * size];
        for (var n = 0; n < count; n++)
        {
            var img = new float[size * size];
            double ecx = size / 2.0 + rng.NextDouble() * 2 - 1, ecy = size / 2.0 + rng.NextDouble() * 2 - 1;
            double ea = size * (0.38 + 0.08 * rng.NextDouble()), eb = size * (0.3 + 0.08 * rng.NextDouble());
            var disks = Enumerable.Range(0, 2 + rng.Next(3)).Select(_ => (X: size * (0.25 + 0.5 * rng.NextDouble()), Y: size * (0.25 + 0.5 * rng.NextDouble()), R: size * (0.05 + 0.1 * rng.NextDouble()), V: 0.1 + 0.85 * rng.NextDouble())).ToArray();
            var (rx, ry, rw, rh, rv) = (rng.Next(size / 4, size / 2), rng.Next(size / 4, size / 2), rng.Next(3, size / 4), rng.Next(3, size / 4), 0.2 + 0.6 * rng.NextDouble());
            var freq = 0.5 + rng.NextDouble();
            var bandY = rng.Next(size / 4, 3 * size / 4);
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    var d = Math.Pow((x - ecx) / ea, 2) + Math.Pow((y - ecy) / eb, 2);
                    double v = d < 1 ? 0.35 : 0.02;
                    if (Math.Abs(y - bandY) < 3 && d < 1)
                    {
                        v += 0.15 * Math.Sin(freq * x * Math.PI);
                    }

                    if (x >= rx && x < rx + rw && y >= ry && y < ry + rh)
                    {
                        v = rv;
                    }

                    foreach (var k in disks)
                    {
                        if (Math.Pow(x - k.X, 2) + Math.Pow(y - k.Y, 2) < k.R * k.R)
                        {
                            v = k.V;
                        }
                    }

                    img[y * size + x] = (float)Math.Clamp(v, 0, 1);
                }
            }

            Array.Copy(img, 0, data, n * size * size, img.Length);
        }

        return tensor(data, new long[] { count, 1, size, size });
    }

    /// <summary>The low-res input the SR stage sees: an area (2×2 mean) down-sampling, smooth like CT-ViT output.</summary>
    internal static Tensor LowResOf(Tensor highRes, int lowSize) => nn.functional.adaptive_avg_pool2d(highRes, new long[] { lowSize, lowSize });

    private static double Psnr(Tensor estimate, Tensor truth)
    {
        using var scope = NewDisposeScope();
        var mse = (estimate.to(float64) - truth.to(float64)).pow(2).mean().item<double>();
        return 10 * Math.Log10(1.0 / mse);
    }

    private static List<SuperResExample> Examples(Tensor high, Tensor low, Tensor text) =>
        Enumerable.Range(0, (int)high.shape[0]).Select(i => new SuperResExample(high[i], low[i], text)).ToList();

    [Fact]
    public async Task Resuming_from_a_checkpoint_continues_exactly_like_an_uninterrupted_run()
    {
        // No DisposeScope here: a scope must not live across an await (the continuation may run on another
        // thread, whose scope stack it would then corrupt); tensors of this test are left to the GC.
        var high = TrainingSlices(6, 32, seed: 5);
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
            resumed.LoadCheckpoint(dir);
            Assert.Equal(2, resumed.Step);
            var progress = new List<SuperResTrainingProgress>();
            var resumedLosses = await resumed.TrainAsync(Examples(high, low, text), 4, dir, new InlineProgress(progress.Add));

            Assert.Equal(new[] { 3, 4 }, progress.Select(p => p.Step));
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
        var ex = Assert.Throws<FileNotFoundException>(() => trainer.LoadCheckpoint(Path.Combine(Path.GetTempPath(), "no-such-sr-checkpoint")));
        Assert.Contains("no SR training checkpoint", ex.Message);
    }

    /// <summary>
    /// Learning check on structured slices (16→32, tiny config). Asserted: the released objective goes
    /// down and the sampler turns the trained model's predictions into valid slices. Reported, not
    /// asserted: PSNR of 25-step samples against bicubic up-sampling on held-out slices — within a
    /// bounded CPU budget the diffusion model does not reach bicubic yet (see the printed figures).
    /// </summary>
    [Fact]
    public async Task Tiny_sr_training_lowers_the_released_loss_and_reports_psnr_against_bicubic()
    {
        // No DisposeScope here: a scope must not live across an await (the continuation may run on another
        // thread, whose scope stack it would then corrupt); tensors of this test are left to the GC.
        var steps = int.TryParse(Environment.GetEnvironmentVariable("GCT_SR_LEARN_STEPS"), out var s) ? s : 30;
        var high = TrainingSlices(48, 32, seed: 1);
        var low = LowResOf(high, 16);
        var heldHigh = TrainingSlices(4, 32, seed: 1001);
        var heldLow = LowResOf(heldHigh, 16);
        manual_seed(4);
        var text = randn(4, 24);

        manual_seed(0);
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        var diffusion = new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny);
        using var trainer = new SuperResTrainer(diffusion, new SuperResTrainingOptions { LearningRate = 1e-3, BatchSize = 8, Seed = 3 });
        var sw = Stopwatch.StartNew();
        var losses = await trainer.TrainAsync(Examples(high, low, text), steps);
        var trainSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var sr = diffusion.SuperResolve(heldLow, text.unsqueeze(0), null, seed: 7, slicesPerBatch: 4);
        var sampleSeconds = sw.Elapsed.TotalSeconds;
        var bicubic = nn.functional.interpolate(heldLow, new long[] { 32, 32 }, mode: InterpolationMode.Bicubic, align_corners: false).clamp(0, 1);

        double first = losses.Take(10).Average(), last = losses.TakeLast(10).Average();
        output.WriteLine($"{steps} steps × 8 slices (16→32) in {trainSeconds:F1} s; loss first 10 {first:F4} → last 10 {last:F4}");
        output.WriteLine($"held-out 4 slices, 25-step sampling {sampleSeconds:F1} s: PSNR SR {Psnr(sr, heldHigh):F2} dB, bicubic {Psnr(bicubic, heldHigh):F2} dB");
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(last < first, $"loss did not go down: {first:F4} → {last:F4}");
        Assert.False(sr.isnan().any().item<bool>());
        Assert.True(sr.min().item<float>() >= 0f && sr.max().item<float>() <= 1f);
    }

    private sealed class InlineProgress(Action<SuperResTrainingProgress> report) : IProgress<SuperResTrainingProgress>
    {
        public void Report(SuperResTrainingProgress value) => report(value);
    }
}
