using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenerateCT.Federation.Aggregation;
using GenerateCT.Federation.Weights;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.MaskGit;
using TorchSharp;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench aggregate`: FedAvg of N weight updates of the MaskGIT stage (its state dict's names and
/// shapes, repeated up to the issue's ≈ 84 M parameters) from spooled update files on disk, as the coordinator runs it —
/// streamed into one running sum — against a naive peer in the same run that loads every update
/// into memory first and then averages. Reports seconds and peak memory as a multiple of one
/// model's bytes (issue goal: ≤ 2 s and ≤ 3× for 10 paper-size updates).
/// </summary>
internal static class AggregateBenchmark
{
    internal const double SecondsGoal = 2.0;
    internal const double MemoryGoal = 3.0;

    /// <summary>The "paper-size MaskGIT" (≈ 84 M); our paper MaskGitConfig's state dict holds ≈ 40 M, so its layout is repeated.</summary>
    internal const long PaperSizeParameters = 84_000_000;

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "MaskGIT layout: paper (≈84 M parameters) or tiny.", DefaultValueFactory = _ => "paper" };
        var updates = new Option<int>("--updates") { Description = "Updates to aggregate.", DefaultValueFactory = _ => 10 };
        var parameters = new Option<long>("--parameters") { Description = "Parameters per update: the MaskGIT layout is repeated (prefixes r1., r2., …) up to this size; 0 = the layout as it is.", DefaultValueFactory = _ => PaperSizeParameters };
        var repeat = new Option<int>("--repeat") { Description = "Timed runs of each (after one warm-up on one update); the best time and the highest memory are reported.", DefaultValueFactory = _ => 3 };
        var output = new Option<FileInfo?>("--out") { Description = "Also write the JSON report to this file." };
        var work = new Option<DirectoryInfo?>("--work-dir") { Description = "Where the update files are written (default: a temp folder, deleted afterwards)." };
        var cmd = new Command("aggregate", "FedAvg of spooled updates: streaming aggregation vs all updates in memory.") { config, updates, parameters, repeat, output, work };
        cmd.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            int n = parse.GetValue(updates);
            if (n < 1 || parse.GetValue(repeat) < 1)
            {
                throw new ArgumentException("--updates and --repeat must be at least 1");
            }

            var dir = parse.GetValue(work)?.FullName ?? Path.Combine(Path.GetTempPath(), $"gct-bench-aggregate-{Guid.NewGuid():N}");
            try
            {
                var report = await RunAsync(MaskGitConfig.Named(parse.GetValue(config)!), n, parse.GetValue(parameters), parse.GetValue(repeat), dir, ct);
                var json = report.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
                Console.WriteLine(json);
                if (parse.GetValue(output) is { } file)
                {
                    await File.WriteAllTextAsync(file.FullName, json, ct);
                }

                return 0;
            }
            finally
            {
                if (parse.GetValue(work) is null && Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }));
        return cmd;
    }

    internal static async Task<JsonObject> RunAsync(MaskGitConfig config, int updates, long parameters, int repeat, string dir, CancellationToken ct)
    {
        var maskgit = MaskGitLayout(config);
        var layout = Repeated(maskgit, parameters);
        Directory.CreateDirectory(dir);
        var baseFile = Path.Combine(dir, "base" + WeightFile.Extension);
        await WeightFile.WriteAsync(baseFile, Synthetic(layout, seed: 0), ct);
        var files = new List<(string Path, long Samples)>();
        for (int i = 0; i < updates; i++)
        {
            var file = Path.Combine(dir, $"update-{i}{WeightFile.Extension}");
            await WeightFile.WriteAsync(file, Synthetic(layout, seed: i + 1), ct);
            files.Add((file, 10 + (7 * i)));
        }

        long modelBytes = layout.ElementCount * sizeof(float);

        // Both read the same files, hot in the page cache after writing: the comparison is of aggregation, not of the disk.
        async Task<float[]> Streamed(List<(string Path, long Samples)> files)
        {
            var aggregator = new Aggregator(AggregationConfig.FedAvg());
            foreach (var (path, samples) in files)
            {
                await aggregator.AddAsync(path, samples, ct);
            }

            var next = await aggregator.FinishAsync(baseFile, cancellationToken: ct);
            return next[0].Data.AsSpan(0, Math.Min(4096, next[0].Data.Length)).ToArray();
        }

        async Task<float[]> AllInMemory(List<(string Path, long Samples)> files)
        {
            var all = new List<(WeightSet Update, long Samples)>();
            foreach (var (path, samples) in files)
            {
                all.Add((await WeightFile.ReadAsync(path, verify: false, ct), samples));
            }

            var result = await WeightFile.ReadAsync(baseFile, verify: false, ct);
            float total = all.Sum(u => u.Samples);
            for (int t = 0; t < result.Count; t++)
            {
                var x = result[t].Data;
                foreach (var (update, samples) in all)
                {
                    AddScaled(x, update[t].Data, samples / total);
                }
            }

            return result[0].Data.AsSpan(0, Math.Min(4096, result[0].Data.Length)).ToArray();
        }

        await Streamed(files[..1]);
        await AllInMemory(files[..1]);
        float[] check = [], naiveCheck = [];
        var ours = await MeasureAsync(modelBytes, repeat, async () => check = await Streamed(files));
        var naive = await MeasureAsync(modelBytes, repeat, async () => naiveCheck = await AllInMemory(files));
        double maxDifference = check.Zip(naiveCheck).Max(p => Math.Abs(p.First - p.Second));
        double seconds = ours["seconds"]!.GetValue<double>();
        double memory = ours["peak_memory_over_model"]!.GetValue<double>();
        return new JsonObject
        {
            ["benchmark"] = "aggregate",
            ["strategy"] = "FedAvg",
            ["config"] = config.Name,
            ["updates"] = updates,
            ["repeat"] = repeat,
            ["tensors"] = layout.Count,
            ["parameters"] = layout.ElementCount,
            ["maskgit_parameters"] = maskgit.ElementCount,
            ["model_bytes"] = modelBytes,
            ["ours"] = ours,
            ["naive_all_in_memory"] = naive,
            ["ratio_seconds_ours_over_naive"] = Math.Round(seconds / naive["seconds"]!.GetValue<double>(), 3),
            ["ratio_memory_ours_over_naive"] = Math.Round(memory / naive["peak_memory_over_model"]!.GetValue<double>(), 3),
            ["max_abs_difference_first_values"] = maxDifference,
            ["goal_seconds"] = SecondsGoal,
            ["goal_peak_memory_over_model"] = MemoryGoal,
            ["within_goals"] = seconds <= SecondsGoal && memory <= MemoryGoal,
            ["note"] = "ours: Aggregator.AddAsync of each spooled update file (streamed in 1 MiB pieces into one running sum) then FinishAsync from the base file; naive: every update read whole into memory, then the weighted mean. Seconds = best of the timed runs (this machine is shared); peak memory = highest resident set sampled every 5 ms minus the resident set before, over the bytes of one model. Files are in the page cache for both; both ran once on one update before (JIT warm-up).",
            ["cpu_count"] = Environment.ProcessorCount,
            ["timestamp_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
    }

    /// <summary>x += w·u, SIMD (the naive peer is naive in memory, not in arithmetic).</summary>
    private static void AddScaled(float[] x, float[] u, float w)
    {
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x.AsSpan());
        var vu = MemoryMarshal.Cast<float, Vector<float>>(u.AsSpan());
        var vw = new Vector<float>(w);
        for (int i = 0; i < vx.Length; i++)
        {
            vx[i] += vu[i] * vw;
        }

        for (int i = vx.Length * Vector<float>.Count; i < x.Length; i++)
        {
            x[i] += u[i] * w;
        }
    }

    /// <summary>Names and shapes of the MaskGIT stage's state dict (float32), from the model itself.</summary>
    internal static WeightLayout MaskGitLayout(MaskGitConfig config)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MaskGit(config);
        return new WeightLayout(StateDictLayout.Entries(model)
            .Where(e => e.DType == torch.ScalarType.Float32)
            .Select(e => (e.Key, (IReadOnlyList<long>)e.Shape)));
    }

    /// <summary>The layout, then copies of it under prefixes r1., r2., … until <paramref name="parameters"/> is reached.</summary>
    internal static WeightLayout Repeated(WeightLayout layout, long parameters)
    {
        var tensors = Enumerable.Range(0, layout.Count).Select(i => (layout.NameAt(i), layout.ShapeAt(i))).ToList();
        long total = layout.ElementCount;
        for (int copy = 1; total < parameters; copy++)
        {
            for (int i = 0; i < layout.Count && total < parameters; i++)
            {
                tensors.Add(($"r{copy}.{layout.NameAt(i)}", layout.ShapeAt(i)));
                total += layout.ElementCountAt(i);
            }
        }

        return new WeightLayout(tensors);
    }

    /// <summary>Tensors of the layout, produced one at a time (a writer holds one tensor), filled by a cheap generator.</summary>
    internal static IEnumerable<WeightTensor> Synthetic(WeightLayout layout, int seed)
    {
        uint state = (uint)(seed * 2654435761u) | 1;
        for (int i = 0; i < layout.Count; i++)
        {
            var data = GC.AllocateUninitializedArray<float>((int)layout.ElementCountAt(i));
            for (int j = 0; j < data.Length; j++)
            {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                data[j] = ((state >> 8) * (1f / (1 << 24))) - 0.5f;
            }

            yield return new WeightTensor(layout.NameAt(i), layout.ShapeAt(i), data);
        }
    }

    private static async Task<JsonObject> MeasureAsync(long modelBytes, int repeat, Func<Task> run)
    {
        var runs = new List<(double Seconds, long Memory)>();
        for (int i = 0; i < repeat; i++)
        {
            runs.Add(await MeasureOnceAsync(run));
        }

        long memory = runs.Max(r => r.Memory);
        var seconds = runs.Select(r => r.Seconds).Order().ToList();
        return new JsonObject
        {
            ["seconds"] = Math.Round(seconds[0], 3),
            ["seconds_median"] = Math.Round(seconds[seconds.Count / 2], 3),
            ["peak_memory_bytes"] = memory,
            ["peak_memory_over_model"] = Math.Round((double)memory / modelBytes, 3),
        };
    }

    private static async Task<(double Seconds, long Memory)> MeasureOnceAsync(Func<Task> run)
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        long before = process.WorkingSet64;
        long peak = before;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var self = Process.GetCurrentProcess();
            while (!stop.IsCancellationRequested)
            {
                self.Refresh();
                peak = Math.Max(peak, self.WorkingSet64);
                await Task.Delay(5, CancellationToken.None);
            }
        });
        var watch = Stopwatch.StartNew();
        await run();
        watch.Stop();
        process.Refresh();
        stop.Cancel();
        await sampler;
        peak = Math.Max(peak, process.WorkingSet64);
        return (watch.Elapsed.TotalSeconds, Math.Max(0, peak - before));
    }
}
