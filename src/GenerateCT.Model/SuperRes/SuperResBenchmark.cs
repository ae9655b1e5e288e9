using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Figures of one SR-stage benchmark run. <see cref="SecondsPerVolume"/> is measured only when the run
/// covered a whole volume with the full step count; otherwise it is extrapolated linearly in slices and
/// steps from the measured seconds per slice-step, and <see cref="Extrapolated"/> says so.
/// </summary>
public sealed record SuperResBenchmarkResult(
    string Stage,
    string Config,
    string Device,
    int LowResSize,
    int HighResSize,
    int MeasuredSlices,
    int MeasuredSteps,
    int SlicesPerBatch,
    double MeasuredSeconds,
    double SecondsPerSlice,
    double SecondsPerSliceAtFullSteps,
    double OneSliceAtATimeSecondsPerSlice,
    double BatchSpeedup,
    int VolumeSlices,
    int VolumeSteps,
    double SecondsPerVolume,
    bool Extrapolated,
    long PeakWorkingSetBytes,
    string Note)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

/// <summary>
/// Times stage 3 (super-resolution of the slices of one volume) with random weights — speed does not
/// depend on the values — and reports per slice and per volume, against the released one-slice-at-a-time
/// (B = 1) way measured in the same run.
/// </summary>
public static class SuperResBenchmark
{
    /// <param name="config">"paper" (128→512, 22.2 M) or "tiny" (16→32)</param>
    /// <param name="slices">slices measured (batched run); the B = 1 peer runs min(slices, 2) slices</param>
    /// <param name="steps">sampling steps measured (25 released; fewer for a quick CPU estimate)</param>
    /// <param name="slicesPerBatch">0 = all measured slices in one batch</param>
    /// <param name="volumeSlices">slices of a generated volume (201 released)</param>
    public static SuperResBenchmarkResult Run(string config, int slices, int steps, int slicesPerBatch, Device device, int volumeSlices = 201,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slices, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var unetConfig = SuperResUnetConfig.Named(config);
        var fullOptions = SuperResDiffusionOptions.Named(config);
        var options = fullOptions with { Timesteps = steps };
        var perBatch = slicesPerBatch <= 0 ? slices : Math.Min(slicesPerBatch, slices);

        using var scope = NewDisposeScope();
        manual_seed(0);
        using var unet = new SuperResUnet(unetConfig);
        unet.to(device);
        unet.eval();
        var diffusion = new SuperResDiffusion(unet, options);
        var lowRes = rand(slices, 1, options.LowResSize, options.LowResSize);
        var text = randn(1, 16, unetConfig.TextEmbedDim);

        // warm-up (allocator, kernels) on one slice, one step
        new SuperResDiffusion(unet, options with { Timesteps = 1 }).SuperResolve(lowRes[..1], text, null, 0, 1, null, cancellationToken).Dispose();

        var peerSlices = Math.Min(slices, 2);
        var sw = Stopwatch.StartNew();
        diffusion.SuperResolve(lowRes[..peerSlices], text, null, 1, 1, null, cancellationToken).Dispose();
        Synchronize(device);
        var peerPerSlice = sw.Elapsed.TotalSeconds / peerSlices;

        sw.Restart();
        diffusion.SuperResolve(lowRes, text, null, 1, perBatch, null, cancellationToken).Dispose();
        Synchronize(device);
        var measured = sw.Elapsed.TotalSeconds;
        var perSlice = measured / slices;
        var fullSteps = fullOptions.Timesteps;
        var perSliceFull = perSlice * fullSteps / steps;
        var extrapolated = slices < volumeSlices || steps != fullSteps;
        var note = extrapolated
            ? $"seconds_per_volume is extrapolated linearly from {slices} slice(s) × {steps} step(s) to {volumeSlices} slices × {fullSteps} steps"
            : "seconds_per_volume measured on a whole volume";
        return new SuperResBenchmarkResult(
            Training.ModelStage.SuperRes.Name, config, TorchDevice.Describe(device), options.LowResSize, options.HighResSize,
            slices, steps, perBatch, measured, perSlice, perSliceFull, peerPerSlice, peerPerSlice / perSlice,
            volumeSlices, fullSteps, perSliceFull * volumeSlices, extrapolated,
            Process.GetCurrentProcess().PeakWorkingSet64, note);
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            cuda.synchronize(device);
        }
    }
}
