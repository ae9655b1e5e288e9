using System.CommandLine;
using GenerateCT.Imaging;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Model;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.Precision;
using GenerateCT.Model.Training;
using Spectre.Console;

namespace GenerateCT.Cli.Models;

/// <summary>
/// `gct train …`: trains a model stage on a folder of volumes. `train ctvit` is stage 1; later stages
/// add `train maskgit`, `train superres` and `train all` here.
/// </summary>
internal static class TrainCommands
{
    public static Command Create()
    {
        var cmd = new Command("train", "Train a GenerateCT model stage on local volumes.");
        cmd.Subcommands.Add(CreateCtVit());
        cmd.Subcommands.Add(MaskGitCommands.CreateTrain());
        return cmd;
    }

    private static Command CreateCtVit()
    {
        var config = new Option<string>("--config") { Description = "Named CT-ViT config: tiny or paper.", DefaultValueFactory = _ => "tiny" };
        var data = new Option<DirectoryInfo>("--data") { Description = "Folder of NIfTI volumes (.nii / .nii.gz) in HU.", Required = true };
        var steps = new Option<long>("--steps") { Description = "Optimizer steps to train (in total, including resumed ones).", DefaultValueFactory = _ => 1000 };
        var output = new Option<FileInfo>("--out") { Description = "Checkpoint to write (also every --checkpoint-every steps).", Required = true };
        var resume = new Option<FileInfo?>("--resume") { Description = "Training checkpoint to continue from." };
        var init = new Option<FileInfo?>("--init") { Description = "Weights to start from (e.g. the released ctvit_pretrained.pt); its vgg.* enable the perceptual loss." };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (paper: 3e-5).", DefaultValueFactory = _ => 3e-5 };
        var batch = new Option<int>("--batch") { Description = "Volumes per forward pass.", DefaultValueFactory = _ => 1 };
        var accumulate = new Option<int>("--accumulate") { Description = "Gradient accumulation steps (effective batch = batch × accumulate).", DefaultValueFactory = _ => 1 };
        var warmup = new Option<long>("--discr-warmup") { Description = "Steps before the adversarial loss starts.", DefaultValueFactory = _ => 1000 };
        var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "Write the checkpoint every N steps (0: at the end only).", DefaultValueFactory = _ => 500 };
        var vgg = new Option<FileInfo?>("--vgg-weights") { Description = "torchvision VGG16 ImageNet weights for the perceptual loss (skipped without)." };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var precision = new Option<string>("--precision")
        {
            Description = "Forward precision: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16 (with dynamic loss scaling); weights stay fp32.",
            DefaultValueFactory = _ => "auto",
        };
        precision.AcceptOnlyFromAmong([.. MixedPrecision.Names]);

        var cmd = new Command(ModelStage.CtVit.Name, "Train the CT-ViT tokenizer (stage 1).")
        {
            config, data, steps, output, resume, init, lr, batch, accumulate, warmup, checkpointEvery, vgg, device, precision,
        };
        cmd.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var cfg = CtVitConfig.FromName(parse.GetValue(config)!);
            var dir = parse.GetValue(data)!;
            var torchDevice = TorchDevice.Select(parse.GetValue(device)!);
            var volumes = await LoadVolumesAsync(dir, ct);
            using var dataset = new CtVolumeDataset(volumes, cfg);
            var options = new CtVitTrainingOptions
            {
                LearningRate = parse.GetValue(lr),
                BatchSize = parse.GetValue(batch),
                GradientAccumulationSteps = parse.GetValue(accumulate),
                Steps = parse.GetValue(steps),
                DiscriminatorWarmupSteps = parse.GetValue(warmup),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                CheckpointPath = parse.GetValue(output)!.FullName,
                VggWeightsPath = parse.GetValue(vgg)?.FullName,
                Precision = MixedPrecision.Parse(parse.GetValue(precision)!),
            };

            using var model = new CtVit(cfg);
            using var trainer = new CtVitTrainer(model, dataset, options, torchDevice, m => AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(m)}[/]"));
            if (parse.GetValue(init) is { } start)
            {
                var report = ReferenceWeights.Load(model, start.FullName, CtVit.IsLossNetworkKey);
                AnsiConsole.MarkupLine($"initial weights {Markup.Escape(start.FullName)}: {Markup.Escape(report.ToString())}");
                if (model.Config.UseVggAndGan && !report.SkippedOptional.Any(k => k.StartsWith("vgg.", StringComparison.Ordinal)))
                {
                    trainer.EnablePerceptualLoss(start.FullName);
                }
            }

            if (parse.GetValue(resume) is { } from)
            {
                trainer.Resume(from.FullName);
                AnsiConsole.MarkupLine($"resumed from {Markup.Escape(from.FullName)} at step {trainer.Step}");
            }

            AnsiConsole.MarkupLine($"CT-ViT [bold]{cfg.Name}[/] on {Markup.Escape(TorchDevice.Describe(torchDevice))}, {trainer.Precision.Name}: {dataset.Count} volumes, {options.Steps} steps");
            TrainingStep? last = null;
            var precisionName = trainer.Precision.Name;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: options.Steps);
                    task.Value = trainer.Step;
                    var progress = new Progress<TrainingStep>(p =>
                    {
                        last = p;
                        task.Value = p.Step;
                        task.Description = $"{precisionName} · loss {p.Loss:F4} · PSNR {p.Metrics["psnr"]:F1} dB · codebook {p.Metrics["codebook_usage"]:P0}"
                            + (p.Metrics.TryGetValue("loss_scale", out var s) ? $" · loss scale {s:G3}" : string.Empty);
                    });
                    await trainer.RunAsync(progress, ct);
                });

            if (last is not null)
            {
                AnsiConsole.MarkupLine($"step {last.Step} ({precisionName}): loss {last.Loss:F4}, PSNR {last.Metrics["psnr"]:F2} dB, codebook usage {last.Metrics["codebook_usage"]:P0}");
            }

            AnsiConsole.MarkupLine($"checkpoint: {Markup.Escape(options.CheckpointPath)}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The HU volumes of a training folder: every .nii / .nii.gz file in it (sorted by name).</summary>
    internal static async Task<List<Volume>> LoadVolumesAsync(DirectoryInfo dir, CancellationToken ct)
    {
        if (!dir.Exists)
        {
            throw new DirectoryNotFoundException($"training data folder {dir.FullName} does not exist");
        }

        var files = dir.EnumerateFiles("*", SearchOption.TopDirectoryOnly)
            .Where(f => f.Name.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || f.Name.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new FileNotFoundException($"no NIfTI volumes (.nii, .nii.gz) in {dir.FullName}");
        }

        var volumes = new List<Volume>(files.Count);
        foreach (var file in files)
        {
            volumes.Add(await ReadVolumeAsync(file, ct));
        }

        return volumes;
    }

    /// <summary>One NIfTI-1 volume in HU, read by GenerateCT.Imaging's codec.</summary>
    private static async Task<Volume> ReadVolumeAsync(FileInfo file, CancellationToken ct) =>
        (await NiftiFile.ReadAsync(file.FullName, ct)).Volume;
}
