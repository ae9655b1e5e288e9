using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>Time and peak resident memory of one measured phase; skipped phases say why.</summary>
public sealed record MaskGitPhaseMeasurement(string Phase, string BiasMethod, double? Seconds, long? PeakRssBytes, string? Skipped = null);

/// <summary>The `gct bench model --stage maskgit` report.</summary>
public sealed record MaskGitBenchmarkReport(
    string Config,
    string Device,
    long[] TokenGrid,
    long Tokens,
    int SampleSteps,
    int MaxSeqLen,
    long DistinctOffsets,
    long AllPairsMlpRows,
    IReadOnlyList<MaskGitPhaseMeasurement> Measurements);

/// <summary>
/// Measures MaskGit at the released token grid (101×8×8 = 6464 tokens for 201 slices): the 3-D position
/// bias alone, one guided forward and a full sampling run, once with the offset-table bias and once with
/// the reference's all-pairs bias. Peak memory is the process's resident high-water mark (VmHWM, reset
/// before each phase through /proc/self/clear_refs), so it includes everything the phase allocated.
/// </summary>
public static class MaskGitBenchmark
{
    public static MaskGitBenchmarkReport Run(
        MaskGitConfig config,
        Device device,
        (long T, long H, long W) grid,
        int sampleSteps,
        bool runAllPairs,
        Action<string>? log = null)
    {
        var n = grid.T * grid.H * grid.W;
        // The tiny config's 64 learned positions cannot hold the released grid; widen the table only.
        var benchConfig = n > config.MaxSeqLen ? config with { MaxSeqLen = (int)n } : config;
        manual_seed(0);
        using var model = new MaskGit(benchConfig);
        model.to(device);
        model.eval();
        var measurements = new List<MaskGitPhaseMeasurement>();
        var generator = new Generator(1, device);
        using var context = randn([1, 16, benchConfig.DimContext], generator: generator, device: device);
        using var textMask = ones([1, 16], dtype: @bool, device: device);
        using var ids = randint(0, benchConfig.NumTokens, [1, n], generator: generator, device: device);
        var offsets = ((2 * grid.T) - 1) * ((2 * grid.H) - 1) * ((2 * grid.W) - 1);

        foreach (var method in new[] { PositionBiasMethod.OffsetTable, PositionBiasMethod.AllPairs })
        {
            model.BiasMethod = method;
            var name = method == PositionBiasMethod.OffsetTable ? "offset-table" : "all-pairs";
            if (method == PositionBiasMethod.AllPairs && !runAllPairs)
            {
                // Linear(3, d) → LeakyReLU → Linear(d, d) → LeakyReLU → Linear(d, heads) over n² rows, float32.
                var needed = n * n * ((4L * config.DimHead) + config.Heads) * 4L;
                var reason = $"all-pairs MLP needs ≈{needed / 1e9:F1} GB of activations at n = {n}; pass --all-pairs to run it anyway";
                foreach (var phase in new[] { "position_bias", "forward", "sample" })
                {
                    measurements.Add(new MaskGitPhaseMeasurement(phase, name, null, null, reason));
                }

                continue;
            }

            measurements.Add(Measure("position_bias", name, device, () =>
            {
                using var noGrad = no_grad();
                using var bias = model.PositionBias(grid.T, grid.H, grid.W, device);
                return bias.sum().item<float>();
            }));
            log?.Invoke($"{name}: position bias done");
            measurements.Add(Measure("forward", name, device, () =>
            {
                using var noGrad = no_grad();
                using var logits = model.ForwardWithCondScale(ids, grid, context, textMask, benchConfig.CondScale);
                return logits.mean().item<float>();
            }));
            log?.Invoke($"{name}: guided forward done");
            measurements.Add(Measure("sample", name, device, () =>
            {
                var options = MaskGitSamplingOptions.For(benchConfig, seed: 0) with { Steps = sampleSteps };
                using var sampled = MaskGitSampler.SampleIds(model, 1, grid, context, textMask, options);
                return sampled.sum().item<long>();
            }));
            log?.Invoke($"{name}: {sampleSteps}-step sample done");
        }

        return new MaskGitBenchmarkReport(
            config.Name,
            TorchDevice.Describe(device),
            [grid.T, grid.H, grid.W],
            n,
            sampleSteps,
            benchConfig.MaxSeqLen,
            offsets,
            n * n,
            measurements);
    }

    private static MaskGitPhaseMeasurement Measure<T>(string phase, string method, Device device, Func<T> body)
    {
        ResetPeakRss();
        var clock = Stopwatch.StartNew();
        _ = body();
        if (device.type == DeviceType.CUDA)
        {
            cuda.synchronize(device);
        }

        clock.Stop();
        return new MaskGitPhaseMeasurement(phase, method, clock.Elapsed.TotalSeconds, PeakRss());
    }

    /// <summary>Linux proc(5): writing 5 to clear_refs resets the VmHWM high-water mark.</summary>
    private static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux or not permitted: the peak then covers the whole process lifetime.
        }
    }

    private static long? PeakRss()
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return null;
        }

        var line = File.ReadLines(Status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        var kb = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return kb is null ? null : long.Parse(kb, System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
