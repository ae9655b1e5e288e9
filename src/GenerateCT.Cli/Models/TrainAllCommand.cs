using System.CommandLine;
using System.Text.Json;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Text;
using Spectre.Console;

namespace GenerateCT.Cli.Models;

/// <summary>
/// `gct train all --config tiny --data DIR --out BUNDLE`: trains CT-ViT, MaskGIT and SR in order on a
/// folder of phantoms as `gct phantom` writes them (NAME.nii.gz + NAME.report.txt + NAME.json with
/// "prompt"), one progress display, and writes a bundle.
/// </summary>
internal static class TrainAllCommand
{
    public static Command Create()
    {
        var cmd = new Command("all", "Train the three stages in order on a phantom folder and write a model bundle.");
        var config = new Option<string>("--config") { Description = "Pipeline config (tiny).", DefaultValueFactory = _ => "tiny" };
        var data = new Option<DirectoryInfo>("--data") { Description = "Folder of phantoms written by `gct phantom`.", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Bundle directory to write.", Required = true };
        var tokenizer = new Option<FileInfo?>("--tokenizer") { Description = "SentencePiece model for the tiny text encoder (default: the tiny model shipped with gct, tokenizers/spm_tiny.model)." };
        var ctvitSteps = new Option<int>("--ctvit-steps") { DefaultValueFactory = _ => 300 };
        var maskgitSteps = new Option<int>("--maskgit-steps") { DefaultValueFactory = _ => 300 };
        var srSteps = new Option<int>("--superres-steps") { DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 4 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        foreach (var o in new Option[] { config, data, output, tokenizer, ctvitSteps, maskgitSteps, srSteps, batch, seed, device })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                var generation = GenerationConfig.Named(parse.GetValue(config)!);
                var spm = parse.GetValue(tokenizer)?.FullName ?? TinyTokenizer.RequireModelPath();
                var cases = await PhantomFolder.ReadAsync(parse.GetValue(data)!.FullName, ct);
                var options = new TrainAllOptions
                {
                    CtVitSteps = parse.GetValue(ctvitSteps),
                    MaskGitSteps = parse.GetValue(maskgitSteps),
                    SuperResSteps = parse.GetValue(srSteps),
                    BatchSize = parse.GetValue(batch),
                    Seed = parse.GetValue(seed),
                };
                var torchDevice = TorchDevice.Select(parse.GetValue(device)!);
                AnsiConsole.MarkupLineInterpolated($"training [bold]{generation.Name}[/] on {cases.Count} cases, {TorchDevice.Describe(torchDevice)}");
                BundleManifest? manifest = null;
                await AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async context =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>();
                        var progress = new InlineProgress<TrainingProgress>(p =>
                        {
                            if (!tasks.TryGetValue(p.Stage, out var task))
                            {
                                task = tasks[p.Stage] = context.AddTask(p.Stage, maxValue: Math.Max(1, p.Steps));
                            }

                            task.Value = p.Step;
                            task.Description = $"{p.Stage} loss {p.Loss:F4}";
                        });
                        manifest = await BundleTrainer.TrainAsync(generation, cases, spm, parse.GetValue(output)!.FullName, options, torchDevice, progress, ct);
                    });

                BundleCommands.PrintManifest(manifest!, parse.GetValue(output)!.FullName);
                return 0;
            }
            catch (Exception e) when (e is ModelException or ArgumentException or InvalidDataException or NotSupportedException or InvalidOperationException or FileNotFoundException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}

/// <summary>A phantom folder: every NAME.json sidecar with a "prompt" and its NAME.nii.gz volume.</summary>
internal static class PhantomFolder
{
    public static async Task<IReadOnlyList<TrainingCase>> ReadAsync(string directory, CancellationToken ct)
    {
        if (!Directory.Exists(directory))
        {
            throw new ArgumentException($"data folder '{directory}' does not exist; create phantoms with `gct phantom`");
        }

        var cases = new List<TrainingCase>();
        foreach (var sidecar in Directory.EnumerateFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(sidecar, ct));
            if (!doc.RootElement.TryGetProperty("prompt", out var prompt) || prompt.GetString() is not { Length: > 0 } text)
            {
                continue;
            }

            var volumeName = doc.RootElement.TryGetProperty("files", out var files) && files.TryGetProperty("volume", out var v)
                ? v.GetString()!
                : Path.GetFileNameWithoutExtension(sidecar) + ".nii.gz";
            var volume = await ImagingInputs.ReadVolumeAsync(Path.Combine(directory, volumeName), ct);
            cases.Add(new TrainingCase(volume, text));
        }

        if (cases.Count == 0)
        {
            throw new ArgumentException($"data folder '{directory}' holds no phantom (NAME.json with a prompt beside NAME.nii.gz); create some with `gct phantom`");
        }

        return cases;
    }
}
