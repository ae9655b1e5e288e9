using System.CommandLine;
using System.Text.Json;
using GenerateCT.Model;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.Training;
using Spectre.Console;
using TorchSharp;

namespace GenerateCT.Cli.Models;

/// <summary>`gct model …`: look into model checkpoints (ours, PyTorch .pt zips, safetensors).</summary>
internal static class ModelCommands
{
    public static Command Create()
    {
        var cmd = new Command("model", "Inspect model checkpoints; build a model bundle from the released checkpoints and verify bundles.");
        cmd.Subcommands.Add(CreateInspect());
        return cmd;
    }

    private static Command CreateInspect()
    {
        var path = new Argument<FileInfo>("checkpoint") { Description = "A GenerateCT checkpoint, a PyTorch .pt/.pth zip or a safetensors file." };
        var stage = new Option<string?>("--stage") { Description = "Stage to check the keys against (default: from the checkpoint, or guessed from its keys)." };
        var config = new Option<string?>("--config") { Description = "Named config to check against (default: from the checkpoint, or guessed from shapes)." };
        var json = new Option<bool>("--json") { Description = "Write the report as JSON." };
        var prefix = new Option<string?>("--strip-prefix") { Description = "Key prefix to remove first (e.g. 'ctvit.' inside transformer_pretrained.pt)." };
        var cmd = new Command("inspect", "List a checkpoint's stage, config, parameter count and key report.") { path, stage, config, json, prefix };
        cmd.SetAction((parse, ct) => CliErrors.Run(() =>
        {
            var report = Inspect(parse.GetValue(path)!.FullName, parse.GetValue(stage), parse.GetValue(config), parse.GetValue(prefix));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            }
            else
            {
                var table = new Table().AddColumns("", "");
                table.AddRow("file", Markup.Escape(report.Path));
                table.AddRow("format", report.Format);
                table.AddRow("stage", Markup.Escape(report.Stage ?? "unknown"));
                table.AddRow("config", Markup.Escape(report.Config ?? "unknown"));
                table.AddRow("step", report.Step?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-");
                table.AddRow("tensors", report.Tensors.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
                table.AddRow("elements (parameters + buffers)", report.Elements.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
                table.AddRow("key report", Markup.Escape(report.KeyReport ?? "no model to compare with"));
                AnsiConsole.Write(table);
            }

            return report.KeysMatch == false ? 1 : 0;
        }));
        return cmd;
    }

    internal sealed record InspectionReport(
        string Path,
        string Format,
        string? Stage,
        string? Config,
        long? Step,
        int Tensors,
        long Elements,
        bool? KeysMatch,
        string? KeyReport,
        IReadOnlyList<string> Missing,
        IReadOnlyList<string> Unexpected,
        IReadOnlyList<string> ShapeMismatched);

    internal static InspectionReport Inspect(string path, string? stage, string? config, string? stripPrefix = null)
    {
        var format = ReferenceWeights.DetectFormat(path);
        long? step = null;
        if (format == CheckpointFileFormat.Native)
        {
            using var checkpoint = ModelCheckpoint.Read(path);
            stage ??= checkpoint.Info.Stage;
            config ??= checkpoint.Info.Config;
            step = checkpoint.Info.Step;
        }

        var state = ReferenceWeights.ReadStateDict(path);
        if (!string.IsNullOrEmpty(stripPrefix))
        {
            var kept = state.Where(kv => kv.Key.StartsWith(stripPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[stripPrefix.Length..], kv => kv.Value);
            foreach (var (key, t) in state.Where(kv => !kv.Key.StartsWith(stripPrefix, StringComparison.Ordinal)))
            {
                t.Dispose();
            }

            state = kept;
        }

        try
        {
            stage ??= state.ContainsKey("vq._codebook.embed") ? ModelStage.CtVit.Name : null;
            if (ModelStage.CtVit.Is(stage) && config is null && state.TryGetValue("vq._codebook.embed", out var embed))
            {
                config = CtVitConfig.Names.FirstOrDefault(n =>
                {
                    var c = CtVitConfig.FromName(n);
                    return embed.shape.SequenceEqual(new[] { 1, c.CodebookSize, c.Dim });
                });
            }

            long elements = state.Values.Sum(t => t.numel());
            StateDictReport? keys = null;
            if (ModelStage.CtVit.Is(stage) && config is not null)
            {
                // vgg.* / discr.* are training-only: checked when present, never required.
                using var model = new CtVit(CtVitConfig.FromName(config) with { UseVggAndGan = false });
                keys = ReferenceWeights.Inspect(model, state, CtVit.IsLossNetworkKey);
            }
            else if (stage is not null && !ModelStage.CtVit.Is(stage))
            {
                // Later stages register their models here.
            }

            return new InspectionReport(
                path, format.ToString(), stage, config, step, state.Count, elements,
                keys?.IsExact, keys?.ToString(),
                keys?.Missing ?? [], keys?.Unexpected ?? [], keys?.ShapeMismatched.Select(m => m.ToString()).ToList() ?? []);
        }
        finally
        {
            foreach (var t in state.Values)
            {
                t.Dispose();
            }
        }
    }
}
