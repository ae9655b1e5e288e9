using System.Diagnostics;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Tests.Fixtures;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class SuperResDiffusionTests(ITestOutputHelper output)
{
    private static SuperResUnet FixtureUnet()
    {
        using var f = ReferenceFixture.Load("superres_unet_tiny");
        var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        unet.load_state_dict(f.State(), strict: true);
        unet.eval();
        return unet;
    }

    [Fact]
    public void Schedules_follow_the_closed_forms_and_alpha_sigma_lie_on_the_unit_circle()
    {
        using var scope = NewDisposeScope();
        var ts = new[] { 0.0, 0.1, 0.3, 0.5, 0.8, 0.99 };
        var t = tensor(ts.Select(v => (float)v).ToArray());
        var cos = NoiseSchedule.Cosine.LogSnr(t).to(float64).data<double>().ToArray();
        var lin = NoiseSchedule.Linear.LogSnr(t).to(float64).data<double>().ToArray();
        for (var i = 0; i < ts.Length; i++)
        {
            var c = Math.Cos((ts[i] + 0.008) / 1.008 * Math.PI / 2);
            Assert.Equal(-Math.Log(Math.Max(1 / (c * c) - 1, 1e-5)), cos[i], 3);
            Assert.Equal(-Math.Log(Math.Exp(1e-4 + 10 * ts[i] * ts[i]) - 1), lin[i], 3);
        }

        // log-SNR decreases with t (more noise later)
        Assert.True(cos.Zip(cos.Skip(1)).All(p => p.First > p.Second));
        var (a, s) = NoiseSchedule.AlphaSigma(NoiseSchedule.Cosine.LogSnr(t));
        Assert.True((a.pow(2) + s.pow(2) - 1).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void V_prediction_recovers_x0_and_the_posterior_equals_the_standard_gaussian_form()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var x0 = rand(4, 1, 8, 8) * 2 - 1;
        var eps = randn(4, 1, 8, 8);
        var t = tensor(new[] { 0.2f, 0.4f, 0.6f, 0.9f });
        var tNext = t - 0.04f;
        var lam = NoiseSchedule.Cosine.LogSnr(t).view(4, 1, 1, 1);
        var lamNext = NoiseSchedule.Cosine.LogSnr(tNext).view(4, 1, 1, 1);
        var (a, s) = NoiseSchedule.AlphaSigma(lam);
        var xt = a * x0 + s * eps;
        var v = a * eps - s * x0;                             // target of the released loss
        Assert.True(((a * xt - s * v) - x0).abs().max().item<float>() < 1e-5);

        // DDPM posterior in terms of α_{t|s} = α_t/α_s and σ²_{t|s} = σ_t² − α²_{t|s} σ_s²
        var (aN, sN) = NoiseSchedule.AlphaSigma(lamNext);
        var aTs = a / aN;
        var s2Ts = s.pow(2) - aTs.pow(2) * sN.pow(2);
        var expectedMean = aTs * sN.pow(2) / s.pow(2) * xt + aN * s2Ts / s.pow(2) * x0;
        var expectedVar = s2Ts * sN.pow(2) / s.pow(2);
        var (mean, variance) = NoiseSchedule.Posterior(x0, xt, lam, lamNext);
        Assert.True((mean - expectedMean).abs().max().item<float>() < 1e-4);
        Assert.True((variance - expectedVar.expand_as(variance)).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void Dynamic_thresholding_rescales_only_samples_whose_95th_percentile_exceeds_one()
    {
        using var scope = NewDisposeScope();
        var inRange = linspace(-0.9, 0.9, 100).view(1, 1, 10, 10);
        var wide = linspace(-3, 3, 100).view(1, 1, 10, 10);
        var outT = SuperResDiffusion.DynamicThreshold(cat(new[] { inRange, wide }, 0), 0.95);
        Assert.True((outT[0] - inRange[0]).abs().max().item<float>() < 1e-6);
        // s = 95th percentile of |x| > 1: everything ends in [-1, 1] and the largest values saturate at ±1
        Assert.True(outT[1].abs().max().item<float>() <= 1f + 1e-6f);
        Assert.Equal(1f, outT[1].max().item<float>(), 5);
        // expected: s from torch.quantile's linear interpolation, computed here in double
        var values = Enumerable.Range(0, 100).Select(i => -3 + 6.0 * i / 99).ToArray();
        var sorted = values.Select(Math.Abs).Order().ToArray();
        var pos = 0.95 * 99;
        var s = sorted[(int)pos] + (sorted[(int)pos + 1] - sorted[(int)pos]) * (pos - Math.Floor(pos));
        var expected = values.Select(x => Math.Clamp(x, -s, s) / s).ToArray();
        var actual = outT[1].flatten().to(float64).data<double>().ToArray();
        Assert.All(Enumerable.Range(0, 100), i => Assert.Equal(expected[i], actual[i], 5));
    }

    [Fact]
    public void Batched_and_one_slice_at_a_time_super_resolution_give_the_same_slices()
    {
        using var scope = NewDisposeScope();
        using var unet = FixtureUnet();
        var diffusion = new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny);
        using var f = ReferenceFixture.Load("superres_unet_tiny");
        var text = f["input.text_embeds"][1..2];                                      // 1 6 24, two padded positions
        var g = new Generator(11);
        var lowRes = rand(new long[] { 3, 1, 16, 16 }, generator: g);

        var sw = Stopwatch.StartNew();
        var single = diffusion.SuperResolve(lowRes, text, null, seed: 42, slicesPerBatch: 1);
        var singleSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var batched = diffusion.SuperResolve(lowRes, text, null, seed: 42, slicesPerBatch: 3);
        var batchedSeconds = sw.Elapsed.TotalSeconds;
        var mixed = diffusion.SuperResolve(lowRes, text, null, seed: 42, slicesPerBatch: 2);

        var errBatched = ReferenceFixture.MaxAbsDiff(batched, single);
        var errMixed = ReferenceFixture.MaxAbsDiff(mixed, single);
        output.WriteLine($"3 slices 16→32, 25 steps: one at a time {singleSeconds:F2} s, batch of 3 {batchedSeconds:F2} s");
        output.WriteLine($"max |batch 3 − one at a time| = {errBatched:E3}; max |batch 2 − one at a time| = {errMixed:E3}");
        Assert.Equal(new long[] { 3, 1, 32, 32 }, single.shape);
        Assert.True(errBatched <= 1e-5, $"batched differs by {errBatched:E3}");
        Assert.True(errMixed <= 1e-5, $"batch of 2 differs by {errMixed:E3}");
        Assert.True(single.min().item<float>() >= 0f && single.max().item<float>() <= 1f);
        // different slices of one volume get different noise
        Assert.True(ReferenceFixture.MaxAbsDiff(single[0], single[1]) > 1e-3);
    }

    [Fact]
    public void Super_resolution_reports_progress_and_honours_cancellation()
    {
        using var scope = NewDisposeScope();
        using var unet = FixtureUnet();
        var diffusion = new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny with { Timesteps = 2 });
        using var f = ReferenceFixture.Load("superres_unet_tiny");
        var text = f["input.text_embeds"][0..1];
        var lowRes = rand(3, 1, 16, 16);
        var reports = new List<SuperResProgress>();
        var progress = new SynchronousProgress<SuperResProgress>(reports.Add);
        var first = diffusion.SuperResolve(lowRes, text, null, seed: 1, slicesPerBatch: 2, progress);
        Assert.Equal(new[] { new SuperResProgress(2, 3), new SuperResProgress(3, 3) }, reports);
        var again = diffusion.SuperResolve(lowRes, text, null, seed: 1, slicesPerBatch: 3);
        var otherSeed = diffusion.SuperResolve(lowRes, text, null, seed: 2, slicesPerBatch: 3);
        Assert.Equal(0.0, ReferenceFixture.MaxAbsDiff(again, first));
        Assert.True(ReferenceFixture.MaxAbsDiff(otherSeed, first) > 1e-2);

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => diffusion.SuperResolve(lowRes, text, null, 1, 2, null, cts.Token));
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
