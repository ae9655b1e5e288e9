using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using Spectre.Console;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench prompt-following --bundle B`: for each phantom finding, generate N volumes with the finding
/// in the prompt and N without, and score each with the finding's own measurement
/// (<see cref="Finding.IsPresentIn"/> on <see cref="ChestScan"/>), next to the same measurement on generator
/// phantoms of the generated size with and without the finding (how well it reads at that size at all).
/// Reported, not asserted.
/// </summary>
internal static class PromptFollowingBenchmark
{
    public static Command Create()
    {
        var cmd = new Command("prompt-following", "Score generated volumes against the findings named in their prompts.");
        var bundle = new Option<DirectoryInfo>("--bundle") { Required = true };
        var count = new Option<int>("--count") { Description = "Volumes per prompt.", DefaultValueFactory = _ => 2 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "auto" };
        var output = new Option<FileInfo?>("--out") { Description = "JSON report path." };
        foreach (var o in new Option[] { bundle, count, seed, device, output })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            using var models = ModelBundle.Load(parse.GetValue(bundle)!.FullName, TorchDevice.Select(parse.GetValue(device)!));
            var pipeline = new GenerationPipeline(models);
            var n = parse.GetValue(count);
            var rng = new Random(1);
            var without = PhantomReport.PromptFor(60, PatientSex.Female, PhantomReportWriter.Impression([]));
            var baseline = await pipeline.GenerateAsync(new GenerationRequest([without], parse.GetValue(seed), n), cancellationToken: ct);
            // Calibration: the same measurement on generator phantoms of the generated size, with and without
            // the finding, says how well it can read the finding at all at this resolution.
            var (depth, size) = (baseline[0].Volume.Depth, baseline[0].Volume.Height);
            // Scans that do not depend on the finding are analysed once: the baseline volumes and the clean phantoms.
            var baselineScans = baseline.Select(g => ChestScan.Analyze(g.Volume)).ToList();
            var cleanPhantoms = PhantomScans([], n, depth, size);
            var table = new Table().AddColumns("finding", "prompt with it", "present (with)", "present (without)", "phantoms with / without");
            var rows = new List<object>();
            foreach (var kind in Enum.GetValues<FindingKind>())
            {
                var with = PhantomReport.PromptFor(60, PatientSex.Female, PhantomReportWriter.Impression([Finding.Sample(kind, rng)]));
                var generated = await pipeline.GenerateAsync(new GenerationRequest([with], parse.GetValue(seed), n), cancellationToken: ct);
                var hitWith = generated.Count(g => Finding.IsPresentIn(kind, ChestScan.Analyze(g.Volume)));
                var hitWithout = baselineScans.Count(scan => Finding.IsPresentIn(kind, scan));
                var phantomWith = PhantomScans([kind], n, depth, size)?.Count(scan => Finding.IsPresentIn(kind, scan));
                var phantomWithout = cleanPhantoms?.Count(scan => Finding.IsPresentIn(kind, scan));
                var calibration = phantomWith is null ? "n/a (too small for a phantom)" : $"{phantomWith}/{n} / {phantomWithout}/{n}";
                table.AddRow(kind.ToString(), Markup.Escape(with), $"{hitWith}/{n}", $"{hitWithout}/{n}", calibration);
                rows.Add(new { finding = kind.ToString(), prompt = with, presentWith = hitWith, presentWithout = hitWithout, volumes = n, phantomsPresentWith = phantomWith, phantomsPresentWithout = phantomWithout });
            }

            AnsiConsole.Write(table);
            var json = JsonSerializer.Serialize(new { benchmark = "prompt-following", bundle = models.Manifest.Pipeline, rows }, new JsonSerializerOptions { WriteIndented = true });
            if (parse.GetValue(output) is { } file)
            {
                await File.WriteAllTextAsync(file.FullName, json, ct);
            }

            Console.WriteLine(json);
            return 0;
        });
        return cmd;
    }

    /// <summary>Scans of <paramref name="n"/> generator phantoms (seeds 10000…) carrying <paramref name="planted"/>; null below the generator's minimum size.</summary>
    private static List<ChestScan>? PhantomScans(IReadOnlyList<FindingKind> planted, int n, int depth, int size) =>
        depth < 8 || size < 32
            ? null
            : Enumerable.Range(0, n)
                .Select(i => ChestScan.Analyze(ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 10_000 + i, Slices = depth, Size = size, FindingKinds = planted }).Volume))
                .ToList();
}
