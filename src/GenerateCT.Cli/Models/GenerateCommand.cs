using System.CommandLine;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using Spectre.Console;

namespace GenerateCT.Cli.Models;

/// <summary>
/// `gct generate "PROMPT" --bundle BUNDLE --out DIR [--seed S] [--count N] [--format nifti,dicom,png]`:
/// text to CT with a model bundle; every output is marked synthetic.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var cmd = new Command("generate", "Generate synthetic chest CT volumes from text prompts with a model bundle.");
        var prompts = new Argument<string[]>("prompt") { Description = "One or more prompts, e.g. \"64 years old female: Cardiomegaly.\"", Arity = ArgumentArity.OneOrMore };
        var bundle = new Option<DirectoryInfo>("--bundle") { Description = "Model bundle directory (gct train all / gct model import-released).", Required = true };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Output directory.", Required = true };
        var seed = new Option<long>("--seed") { Description = "Seed; the same seed, prompt and bundle give the same volume.", DefaultValueFactory = _ => 0 };
        var count = new Option<int>("--count") { Description = "Volumes per prompt.", DefaultValueFactory = _ => 1 };
        var format = new Option<string>("--format") { Description = "Comma-separated outputs: nifti, dicom, png.", DefaultValueFactory = _ => "nifti,dicom,png" };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var batch = new Option<int?>("--slices-per-batch") { Description = "SR slices per batch (default: automatic)." };
        var condScale = new Option<double?>("--cond-scale") { Description = "MaskGIT classifier-free guidance scale (default: the bundle's, 5 as released)." };
        cmd.Arguments.Add(prompts);
        foreach (var o in new Option[] { bundle, outDir, seed, count, format, device, batch, condScale })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                var formats = SyntheticVolumeWriter.ParseFormats(parse.GetValue(format)!);
                var n = parse.GetValue(count);
                if (n < 1)
                {
                    throw new ArgumentException("--count must be at least 1");
                }

                var torchDevice = TorchDevice.Select(parse.GetValue(device)!);
                using var models = ModelBundle.Load(parse.GetValue(bundle)!.FullName, torchDevice);
                var pipeline = new GenerationPipeline(models);
                if (parse.GetValue(condScale) is { } scale && (!double.IsFinite(scale) || scale < 0))
                {
                    throw new ArgumentException($"--cond-scale must be a finite number ≥ 0, not {scale}");
                }

                var request = new GenerationRequest(parse.GetValue(prompts)!, parse.GetValue(seed), n)
                {
                    SlicesPerBatch = parse.GetValue(batch),
                    CondScale = parse.GetValue(condScale),
                };
                pipeline.ValidatePrompts(request.Prompts);
                AnsiConsole.MarkupLineInterpolated($"bundle [bold]{models.Manifest.Pipeline}[/] on {TorchDevice.Describe(torchDevice)}: {request.Prompts.Count * n} volume(s) of {models.Config.Frames}×{models.Config.OutputSize}×{models.Config.OutputSize}");

                IReadOnlyList<GeneratedVolume> volumes = [];
                await AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async context =>
                    {
                        var tasks = new Dictionary<(int, GenerationStage, int), ProgressTask>();
                        var progress = new InlineProgress<GenerationProgress>(p =>
                        {
                            var key = (p.Volume, p.Stage, p.SrStage);
                            if (!tasks.TryGetValue(key, out var task))
                            {
                                var label = p.Stage switch
                                {
                                    GenerationStage.Text => "text (T5)",
                                    GenerationStage.Tokens => "tokens (MaskGIT)",
                                    GenerationStage.Decode => "decode (CT-ViT)",
                                    _ => $"super-resolution {p.SrStage + 1} (slices)",
                                };
                                task = tasks[key] = context.AddTask($"volume {p.Volume + 1}/{p.Volumes} {label}", maxValue: Math.Max(1, p.Steps));
                            }

                            task.Value = p.Step;
                        });
                        volumes = await pipeline.GenerateAsync(request, progress, ct);
                    });

                var outRoot = parse.GetValue(outDir)!.FullName;
                Directory.CreateDirectory(outRoot);
                var table = new Table().AddColumns("#", "prompt", "seed", "format", "file");
                foreach (var v in volumes)
                {
                    foreach (var f in formats)
                    {
                        var path = await SyntheticVolumeWriter.WriteAsync(f, new SyntheticVolume(v.Volume, v.Prompt, v.Seed, v.Index), outRoot, ct);
                        table.AddRow((v.Index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(v.Prompt), v.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture), f, Markup.Escape(Path.GetRelativePath(outRoot, path)));
                    }
                }

                AnsiConsole.Write(table);
                AnsiConsole.MarkupLineInterpolated($"outputs in {outRoot} (all marked synthetic)");
                return 0;
            }
            catch (Exception e) when (e is ModelException or ArgumentException or InvalidOperationException)
            {
                throw new CommandFailure(e.Message, e);
            }
        });
        return cmd;
    }
}

/// <summary>Reports on the caller's thread (the progress display is not thread-affine).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
