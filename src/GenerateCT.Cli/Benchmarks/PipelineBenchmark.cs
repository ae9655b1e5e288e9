using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using GenerateCT.Model;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench pipeline --stage superres|all --config tiny|paper`: seconds per SR slice and per volume,
/// slices per batch, peak memory, device, as JSON. Weights are random (speed does not depend on them).
/// When fewer slices or steps are measured than a volume needs, the per-volume figures are
/// extrapolated linearly from the measured ones and the JSON says so ("extrapolated": true).
/// </summary>
internal static class PipelineBenchmark
{
    /// <summary>The --stage value that times the whole text-to-CT chain rather than one model stage.</summary>
    public const string WholeChain = "all";

    public static Command Create()
    {
        var cmd = new Command("pipeline", "Benchmark super-resolution or the whole text-to-CT chain (same as `gct bench model --stage superres|all`).");
        var stage = new Option<string>("--stage") { Description = $"{ModelStage.SuperRes.Name} or {WholeChain}.", DefaultValueFactory = _ => ModelStage.SuperRes.Name };
        var config = new Option<string>("--config") { Description = "tiny or paper.", DefaultValueFactory = _ => "tiny" };
        var slices = new Option<int?>("--slices") { Description = "SR slices to measure (default: all on CUDA, 2 on CPU for paper)." };
        var steps = new Option<int?>("--steps") { Description = "SR / MaskGIT steps to measure (default: all on CUDA, 2 on CPU for paper)." };
        var batch = new Option<int?>("--slices-per-batch") { Description = "SR slices per batch (default: automatic)." };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var output = new Option<FileInfo?>("--out") { Description = "JSON report path (default: stdout only)." };
        foreach (var o in new Option[] { stage, config, slices, steps, batch, device, output })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(
            parse.GetValue(stage)!, parse.GetValue(config)!, parse.GetValue(device)!, parse.GetValue(slices), parse.GetValue(steps), parse.GetValue(batch), parse.GetValue(output), ct)));
        return cmd;
    }

    /// <summary>
    /// Times <paramref name="stage"/> ("superres" or "all") of <paramref name="configName"/> and prints the JSON
    /// report; on CPU with `paper`, a measured number of slices and steps is extrapolated (and says so).
    /// </summary>
    public static async Task<int> RunAsync(string stage, string configName, string deviceName, int? slices, int? steps, int? slicesPerBatch, FileInfo? output, CancellationToken ct)
    {
        if (!ModelStage.SuperRes.Is(stage) && stage != WholeChain)
        {
            throw new ArgumentException($"pipeline benchmark stage '{stage}': use {ModelStage.SuperRes.Name} or {WholeChain}");
        }

        var generation = GenerationConfig.Named(configName);
        var dev = TorchDevice.Select(deviceName);
        var cpuPaper = dev.type != DeviceType.CUDA && generation.Name == "paper";
        var sr = generation.SuperRes[0];
        var measuredSlices = Math.Min(slices ?? (cpuPaper ? 2 : generation.Frames), generation.Frames);
        var measuredSteps = Math.Min(steps ?? (cpuPaper ? 2 : sr.Diffusion.Timesteps), sr.Diffusion.Timesteps);
        var perBatch = slicesPerBatch ?? (dev.type == DeviceType.CUDA ? 16 : 8);
        perBatch = Math.Min(perBatch, measuredSlices);
        var report = new Dictionary<string, object>
        {
            ["benchmark"] = "pipeline",
            ["stage"] = stage,
            ["config"] = generation.Name,
            ["device"] = TorchDevice.Describe(dev),
            ["frames"] = generation.Frames,
            ["output_size"] = generation.OutputSize,
            ["slices_per_batch"] = perBatch,
        };

        manual_seed(0);
        using var noGrad = no_grad();
        double srPerSlice;
        using (var unet = new SuperResUnet(sr.Unet))
        {
            unet.to(dev).eval();
            var diffusion = new SuperResDiffusion(unet, sr.Diffusion with { Timesteps = measuredSteps });
            using var low = rand(measuredSlices, 1, sr.Diffusion.LowResSize, sr.Diffusion.LowResSize);
            using var text = randn(1, 16, sr.Unet.TextEmbedDim);
            using (var warm = diffusion.SuperResolve(low[..Math.Min(perBatch, measuredSlices)], text, null, 1, perBatch))
            {
            }

            Synchronize(dev);
            var sw = Stopwatch.StartNew();
            using (var res = diffusion.SuperResolve(low, text, null, 1, perBatch, cancellationToken: ct))
            {
            }

            Synchronize(dev);
            var measured = sw.Elapsed.TotalSeconds;
            srPerSlice = measured / measuredSlices * sr.Diffusion.Timesteps / measuredSteps;
            report["superres_measured_slices"] = measuredSlices;
            report["superres_measured_steps"] = measuredSteps;
            report["superres_measured_seconds"] = measured;
            report["superres_seconds_per_slice"] = srPerSlice;
            report["superres_seconds_per_volume"] = srPerSlice * generation.Frames;
        }

        var total = srPerSlice * generation.Frames;
        if (stage == WholeChain)
        {
            var grid = generation.TokenGrid;
            using var maskgit = new Model.MaskGit.MaskGit(generation.MaskGit);
            maskgit.to(dev).eval();
            using var context = randn(1, 16, generation.MaskGit.DimContext, device: dev);
            var mgSteps = Math.Min(steps ?? (cpuPaper ? 1 : generation.MaskGit.Steps), generation.MaskGit.Steps);
            var sw = Stopwatch.StartNew();
            using (var ids = MaskGitSampler.SampleIds(maskgit, 1, grid, context, null, new MaskGitSamplingOptions { Steps = mgSteps, Seed = 1 }, cancellationToken: ct))
            {
                Synchronize(dev);
                var tokens = sw.Elapsed.TotalSeconds * generation.MaskGit.Steps / mgSteps;
                report["maskgit_measured_steps"] = mgSteps;
                report["maskgit_seconds"] = tokens;
                total += tokens;
                using var ctvit = new Model.CtVit.CtVit(generation.CtVit);
                ctvit.to(dev).eval();
                sw.Restart();
                using var video = ctvit.DecodeFromCodebookIndices(ids.reshape(1, grid.T, grid.H, grid.W).clamp(0, generation.CtVit.CodebookSize - 1));
                Synchronize(dev);
                var decode = sw.Elapsed.TotalSeconds;
                report["decode_seconds"] = decode;
                total += decode;
            }
        }

        report["seconds_per_volume"] = total;
        report["extrapolated"] = measuredSlices < generation.Frames || measuredSteps < sr.Diffusion.Timesteps;
        report["peak_working_set_bytes"] = Process.GetCurrentProcess().PeakWorkingSet64;
        var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (output is { } file)
        {
            await File.WriteAllTextAsync(file.FullName, json, ct);
        }

        return 0;
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            torch.cuda.synchronize(device);
        }
    }
}
