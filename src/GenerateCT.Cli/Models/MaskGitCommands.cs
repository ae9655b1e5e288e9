using System.CommandLine;
using System.Text.Json;
using GenerateCT.Model;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Text;
using GenerateCT.Model.Training;
using Spectre.Console;
using TorchSharp;
using CtVitModel = GenerateCT.Model.CtVit.CtVit;
using static TorchSharp.torch;

namespace GenerateCT.Cli.Models;

/// <summary>`gct train maskgit` (stage 2) and the MaskGIT part of `gct bench model`.</summary>
internal static class MaskGitCommands
{
    public static Command CreateTrain()
    {
        var config = new Option<string>("--config") { Description = "Named config for CT-ViT and MaskGIT: tiny or paper.", DefaultValueFactory = _ => "tiny" };
        var ctvit = new Option<FileInfo>("--ctvit") { Description = "Trained CT-ViT checkpoint (gct train ctvit, or the released ctvit_pretrained.pt).", Required = true };
        var data = new Option<DirectoryInfo>("--data") { Description = "Folder of NIfTI volumes, each with its prompt in <name>.json (\"prompt\", as the phantom generator writes) or <name>.prompt.txt.", Required = true };
        var steps = new Option<long>("--steps") { Description = "Optimizer steps to train (in total, including resumed ones).", DefaultValueFactory = _ => 1000 };
        var output = new Option<FileInfo>("--out") { Description = "Checkpoint to write (ctvit.* + maskgit.*, optimizer state).", Required = true };
        var resume = new Option<FileInfo?>("--resume") { Description = "MaskGIT training checkpoint to continue from." };
        var textEncoder = new Option<DirectoryInfo?>("--text-encoder") { Description = "T5 v1.1 bundle directory (config.json, spiece.model, model.safetensors or pytorch_model.bin); default $GCT_TEXT_ENCODER." };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (paper: 3e-5).", DefaultValueFactory = _ => 3e-5 };
        var warmup = new Option<long>("--warmup") { Description = "Linear warm-up steps before the cosine decay (paper: 10000).", DefaultValueFactory = _ => 10_000 };
        var batch = new Option<int>("--batch") { Description = "Volumes per micro-batch.", DefaultValueFactory = _ => 1 };
        var accumulate = new Option<int>("--accumulate") { Description = "Micro-batches per optimizer step (paper: effective batch 4).", DefaultValueFactory = _ => 4 };
        var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "Write the checkpoint every N steps (0: at the end only).", DefaultValueFactory = _ => 500 };
        var seed = new Option<long>("--seed") { Description = "Seed of masking, text dropout and batch draws.", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var tokenCritic = new Option<bool>("--token-critic") { Description = "Also train a token critic (paper §3.2; the released model has none), checkpointed as critic.*; a run with a critic resumes only with this flag." };
        var cmd = new Command(ModelStage.MaskGit.Name, "Train the MaskGIT transformer on frozen CT-ViT tokens and T5 prompt embeddings (stage 2).")
        {
            config, ctvit, data, steps, output, resume, textEncoder, lr, warmup, batch, accumulate, checkpointEvery, seed, device, tokenCritic,
        };
        cmd.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var name = parse.GetValue(config)!;
            var torchDevice = TorchDevice.Select(parse.GetValue(device)!);
            var bundle = parse.GetValue(textEncoder)?.FullName ?? Environment.GetEnvironmentVariable("GCT_TEXT_ENCODER")
                ?? throw new ArgumentException("no text encoder: pass --text-encoder BUNDLE (the google/t5-v1_1-base directory) or set GCT_TEXT_ENCODER");
            var dir = parse.GetValue(data)!;
            var prompts = await ReadPromptsAsync(dir, ct);
            var volumes = await TrainCommands.LoadVolumesAsync(dir, ct);
            using var text = TextEmbedder.FromBundle(bundle, torchDevice);

            var ctvitConfig = CtVitConfig.FromName(name);
            var maskgitConfig = MaskGitConfig.Named(name);
            if (maskgitConfig.DimContext != text.EmbeddingDim)
            {
                // `paper` is the released 768-wide cross-attention; other configs follow the installed encoder.
                maskgitConfig = maskgitConfig.Name == "paper"
                    ? throw new ArgumentException($"the text encoder in {bundle} gives {text.EmbeddingDim}-wide embeddings; the paper MaskGIT needs T5 v1.1 base (768)")
                    : maskgitConfig with { DimContext = text.EmbeddingDim };
            }

            if (parse.GetValue(tokenCritic))
            {
                maskgitConfig = maskgitConfig with { TokenCritic = true };
            }

            manual_seed(parse.GetValue(seed));
            using var model = MaskGitTransformer.Create(ctvitConfig, maskgitConfig);
            ReferenceWeights.Load(model.CtVit, parse.GetValue(ctvit)!.FullName, CtVitModel.IsLossNetworkKey);
            model.to(torchDevice);
            using var ctvitData = new CtVolumeDataset(volumes, ctvitConfig);
            var samples = Enumerable.Range(0, ctvitData.Count).Select(i => ctvitData[i].unsqueeze(0)).ToList();
            using var dataset = MaskGitDataset.Encode(model, samples, prompts, text, torchDevice);
            samples.ForEach(s => s.Dispose());

            var totalSteps = parse.GetValue(steps);
            using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions
            {
                LearningRate = parse.GetValue(lr),
                WarmupSteps = parse.GetValue(warmup),
                DecayEndStep = totalSteps,
                BatchSize = parse.GetValue(batch),
                GradientAccumulationSteps = parse.GetValue(accumulate),
                CondDropProb = maskgitConfig.CondDropProb,
                Seed = parse.GetValue(seed),
            });
            if (parse.GetValue(resume) is { } from)
            {
                trainer.Resume(from.FullName);
                AnsiConsole.MarkupLine($"resumed from {Markup.Escape(from.FullName)} at step {trainer.Step}");
            }

            var outPath = parse.GetValue(output)!.FullName;
            AnsiConsole.MarkupLine($"MaskGIT [bold]{maskgitConfig.Name}[/]{(maskgitConfig.TokenCritic ? " with token critic" : "")} on {Markup.Escape(TorchDevice.Describe(torchDevice))}: {dataset.Count} volumes, {totalSteps} steps");
            TrainingStep? last = null;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: totalSteps);
                    task.Value = trainer.Step;
                    var progress = new Progress<TrainingStep>(p =>
                    {
                        last = p;
                        task.Value = p.Step;
                        task.Description = $"loss {p.Loss:F4} · masked acc {p.Metrics["masked_accuracy"]:P1}{(p.Metrics.TryGetValue("critic_loss", out var c) ? $" · critic {c:F4}" : "")} · lr {p.LearningRate:E1}";
                    });
                    await trainer.RunAsync(dataset, totalSteps, outPath, parse.GetValue(checkpointEvery), progress, ct);
                });

            if (last is not null)
            {
                AnsiConsole.MarkupLine($"step {last.Step}: loss {last.Loss:F4}, masked-token accuracy {last.Metrics["masked_accuracy"]:P1}{(last.Metrics.TryGetValue("critic_loss", out var c) ? $", critic loss {c:F4}" : "")}");
            }

            AnsiConsole.MarkupLine($"checkpoint: {Markup.Escape(outPath)}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// The prompt of every volume in <paramref name="dir"/>, in the order TrainCommands.LoadVolumesAsync
    /// reads the volumes: "prompt" of &lt;name&gt;.json, else the text of &lt;name&gt;.prompt.txt.
    /// </summary>
    internal static async Task<List<string>> ReadPromptsAsync(DirectoryInfo dir, CancellationToken ct)
    {
        if (!dir.Exists)
        {
            throw new DirectoryNotFoundException($"training data folder {dir.FullName} does not exist");
        }

        var prompts = new List<string>();
        var files = dir.EnumerateFiles("*", SearchOption.TopDirectoryOnly)
            .Where(f => f.Name.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || f.Name.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f.Name, StringComparer.Ordinal);
        foreach (var file in files)
        {
            var stem = file.Name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? file.Name[..^".nii.gz".Length] : file.Name[..^".nii".Length];
            var json = Path.Combine(dir.FullName, stem + ".json");
            var txt = Path.Combine(dir.FullName, stem + ".prompt.txt");
            if (File.Exists(json))
            {
                using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(json, ct));
                if (doc.RootElement.TryGetProperty("prompt", out var p) && p.GetString() is { Length: > 0 } prompt)
                {
                    prompts.Add(prompt);
                    continue;
                }
            }

            prompts.Add(File.Exists(txt)
                ? (await File.ReadAllTextAsync(txt, ct)).Trim()
                : throw new FileNotFoundException($"{file.Name} has no prompt: write it to {stem}.json (\"prompt\") or {stem}.prompt.txt", json));
        }

        return prompts;
    }

    /// <summary>`gct bench model --stage maskgit`: JSON of bias / forward / sampling time and peak memory.</summary>
    public static async Task<int> BenchAsync(string configName, Device device, int? frames, int steps, bool allPairs, FileInfo? output, CancellationToken ct)
    {
        // The released token grid: 201 slices through the paper CT-ViT → 101×8×8.
        var grid = CtVitConfig.Paper.TokenGrid(frames ?? CtVitConfig.Paper.Frames);
        var report = MaskGitBenchmark.Run(MaskGitConfig.Named(configName), device, grid, steps, allPairs, m => Console.Error.WriteLine(m));
        var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        Console.WriteLine(json);
        if (output is not null)
        {
            await File.WriteAllTextAsync(output.FullName, json, ct);
        }

        return 0;
    }
}

