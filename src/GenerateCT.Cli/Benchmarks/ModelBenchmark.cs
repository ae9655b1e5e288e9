using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using GenerateCT.Cli.Models;
using GenerateCT.Model;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench model --stage ctvit --config tiny|paper`: encode and decode time per volume and peak memory
/// of a model stage on the current device, as JSON. With --reference DIR (a GenerateCT checkout) the
/// reference PyTorch CT-ViT is timed in the same run, on the same machine, config, volume and threads,
/// and the JSON carries its timings and the ratio ours / reference (issue goal: ≤ 1.1).
/// </summary>
internal static class ModelBenchmark
{
    public static Command Create()
    {
        var stage = new Option<string>("--stage") { Description = "Model stage: ctvit, maskgit, superres or all (the whole chain).", DefaultValueFactory = _ => "ctvit" };
        var config = new Option<string>("--config") { Description = "Named config: tiny or paper.", DefaultValueFactory = _ => "tiny" };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var iterations = new Option<int>("--iterations") { Description = "Timed repetitions (after one warm-up).", DefaultValueFactory = _ => 3 };
        var frames = new Option<int?>("--frames") { Description = "Slices per volume (default: the config's, 201 for paper)." };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for TorchSharp (default: its own choice)." };
        var weights = new Option<FileInfo?>("--weights") { Description = "Checkpoint to load (default: random weights; timing does not depend on them)." };
        var reference = new Option<DirectoryInfo?>("--reference") { Description = "ctvit: a GenerateCT checkout; its PyTorch CT-ViT is timed in the same run for the ratio." };
        var referencePath = new Option<string[]>("--reference-pythonpath") { Description = "ctvit: folder with a Python dependency of the reference (einops, vector_quantize_pytorch, beartype); repeatable.", AllowMultipleArgumentsPerToken = true };
        var python = new Option<string>("--python") { Description = "ctvit: Python interpreter with torch for the reference.", DefaultValueFactory = _ => ReferenceCtVitTiming.DefaultPython };
        var output = new Option<FileInfo?>("--out") { Description = "Also write the JSON report to this file." };
        var sampleSteps = new Option<int>("--sample-steps") { Description = "maskgit: demasking steps of the timed sample.", DefaultValueFactory = _ => 18 };
        var allPairs = new Option<bool>("--all-pairs") { Description = "maskgit: also run the reference all-pairs position bias (≈10 GB of activations at 101×8×8)." };
        var slices = new Option<int?>("--slices") { Description = "superres/all: SR slices to measure (default: all on CUDA, 2 on CPU for paper, then extrapolated)." };
        var srSteps = new Option<int?>("--steps") { Description = "superres/all: SR and MaskGIT steps to measure (default: all on CUDA, 2 on CPU for paper)." };
        var slicesPerBatch = new Option<int?>("--slices-per-batch") { Description = "superres/all: SR slices per batch (default: automatic)." };
        var cmd = new Command("model", "Time a model stage's forward passes.") { stage, config, device, iterations, frames, threads, weights, reference, referencePath, python, output, sampleSteps, allPairs, slices, srSteps, slicesPerBatch };
        cmd.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            if (parse.GetValue(threads) is { } n)
            {
                set_num_threads(n);
            }

            var stageName = parse.GetValue(stage)!;
            if (ModelStage.MaskGit.Is(stageName))
            {
                return await MaskGitCommands.BenchAsync(parse.GetValue(config)!, TorchDevice.Select(parse.GetValue(device)!), parse.GetValue(frames), parse.GetValue(sampleSteps), parse.GetValue(allPairs), parse.GetValue(output), ct);
            }

            if (ModelStage.SuperRes.Is(stageName) || stageName == PipelineBenchmark.WholeChain)
            {
                return await PipelineBenchmark.RunAsync(stageName, parse.GetValue(config)!, parse.GetValue(device)!, parse.GetValue(slices), parse.GetValue(srSteps), parse.GetValue(slicesPerBatch), parse.GetValue(output), ct);
            }

            if (!ModelStage.CtVit.Is(stageName))
            {
                throw new ArgumentException($"no benchmark for stage '{stageName}': use {string.Join(", ", ModelStage.All.Select(s => s.Name))} or {PipelineBenchmark.WholeChain}");
            }

            var cfg = CtVitConfig.FromName(parse.GetValue(config)!);
            var torchDevice = TorchDevice.Select(parse.GetValue(device)!);
            int runs = Math.Max(1, parse.GetValue(iterations));
            var report = RunCtVit(cfg, torchDevice, runs, parse.GetValue(frames), parse.GetValue(weights)?.FullName);
            if (parse.GetValue(reference) is { } referenceDir)
            {
                if (torchDevice.type != DeviceType.CPU)
                {
                    throw new ArgumentException("--reference times the reference on CPU (Debian's torch has no CUDA); run the comparison with --device cpu");
                }

                var timings = await ReferenceCtVitTiming.RunAsync(
                    referenceDir.FullName, parse.GetValue(referencePath) ?? [], parse.GetValue(python)!, cfg, report.Frames, report.Threads, runs, ct);
                report = WithReference(report, timings);
            }

            var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
            Console.WriteLine(json);
            if (parse.GetValue(output) is { } file)
            {
                await File.WriteAllTextAsync(file.FullName, json, ct);
            }

            return 0;
        }));
        return cmd;
    }

    internal sealed record ModelBenchmarkReport(
        string Stage,
        string Config,
        string Device,
        int Threads,
        int Batch,
        int Frames,
        long ImageSize,
        string TokenGrid,
        long Parameters,
        int Iterations,
        double EncodeMsPerVolume,
        double DecodeMsPerVolume,
        double EncodeDecodeMsPerVolume,
        long PeakWorkingSetBytes,
        ReferenceCtVitTimings? Reference,
        ReferenceRatio? Ratio,
        string ReferenceNote,
        DateTimeOffset MeasuredUtc);

    /// <summary>Our time / the reference's time (below 1: we are faster).</summary>
    internal sealed record ReferenceRatio(double Encode, double Decode, double EncodeDecode, double Goal);

    /// <summary>The issue's goal: at most 1.1× the reference forward time.</summary>
    internal const double RatioGoal = 1.1;

    internal static ModelBenchmarkReport WithReference(ModelBenchmarkReport ours, ReferenceCtVitTimings reference)
    {
        if (reference.Parameters != ours.Parameters || reference.TokenGrid != ours.TokenGrid || reference.Threads != ours.Threads)
        {
            throw new InvalidOperationException(
                $"the reference run does not match ours: parameters {reference.Parameters} vs {ours.Parameters}, token grid {reference.TokenGrid} vs {ours.TokenGrid}, threads {reference.Threads} vs {ours.Threads}");
        }

        var ratio = new ReferenceRatio(
            Math.Round(ours.EncodeMsPerVolume / reference.EncodeMsPerVolume, 3),
            Math.Round(ours.DecodeMsPerVolume / reference.DecodeMsPerVolume, 3),
            Math.Round(ours.EncodeDecodeMsPerVolume / reference.EncodeDecodeMsPerVolume, 3),
            RatioGoal);
        return ours with
        {
            Reference = reference,
            Ratio = ratio,
            ReferenceNote = $"ratio = ours / reference ({reference.Implementation}, torch {reference.Torch}), same machine, config, {ours.Frames} slices and {ours.Threads} threads; " +
                (ratio.EncodeDecode <= RatioGoal ? "within" : "above") + $" the {RatioGoal}× goal",
        };
    }

    internal static ModelBenchmarkReport RunCtVit(CtVitConfig config, Device device, int iterations, int? frames, string? weights)
    {
        var cfg = config with { UseVggAndGan = false }; // the loss networks take no part in encode/decode
        int f = frames ?? cfg.Frames;
        var grid = cfg.TokenGrid(f);
        manual_seed(0);
        using var model = new CtVit(cfg);
        if (weights is not null)
        {
            ReferenceWeights.Load(model, weights, CtVit.IsLossNetworkKey);
        }

        model.to(device);
        model.eval();
        using var noGrad = no_grad();
        using var volume = (rand([1, cfg.Channels, f, cfg.ImageSize, cfg.ImageSize], device: device) * 2) - 1;

        double Time(Func<Tensor> run)
        {
            using (run())
            {
                Synchronize(device);
            }

            var watch = Stopwatch.StartNew();
            for (int i = 0; i < iterations; i++)
            {
                using var result = run();
                Synchronize(device);
            }

            return watch.Elapsed.TotalMilliseconds / iterations;
        }

        double encodeMs = Time(() => model.EncodeToIndices(volume));
        using var indices = model.EncodeToIndices(volume);
        double decodeMs = Time(() => model.DecodeFromCodebookIndices(indices));
        using var process = Process.GetCurrentProcess();
        process.Refresh();

        double total = encodeMs + decodeMs;
        return new ModelBenchmarkReport(
            ModelStage.CtVit.Name,
            cfg.Name,
            TorchDevice.Describe(device),
            get_num_threads(),
            1,
            f,
            cfg.ImageSize,
            $"{grid.T}x{grid.H}x{grid.W}",
            StateDictLayout.ParameterCount(model),
            iterations,
            Math.Round(encodeMs, 2),
            Math.Round(decodeMs, 2),
            Math.Round(total, 2),
            process.PeakWorkingSet64,
            null,
            null,
            "reference PyTorch forward not measured: pass --reference DIR (a GenerateCT checkout; see README, Benchmarks) to time it in the same run",
            DateTimeOffset.UtcNow);
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            cuda.synchronize(device);
        }
    }
}
