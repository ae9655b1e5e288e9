using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Model;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Precision;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Training;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Node.Training;

/// <summary>What a finished job produced: steps, the samples they drew from, mean metrics, the result file.</summary>
internal sealed record FineTuningResult(int Steps, int SampleCount, IReadOnlyDictionary<string, double> Metrics, string ResultPath, string ResultSha256);

/// <summary>A job that cannot run as asked (no samples for its stage, a base bundle that changed); it fails with this reason.</summary>
internal sealed class TrainingJobException(string message) : Exception(message);

/// <summary>
/// Runs one training job: loads the base bundle (Node:Generation:Bundle, its own copy: generation keeps
/// serving from the loaded one), builds the stage's data from the training set as `gct train all` does
/// (<see cref="CtVolumeDataset"/>, <see cref="MaskGitDataset"/> on the frozen CT-ViT codes, SR slice pairs
/// of CT-ViT reconstruction → original), and drives the stage's <see cref="IStageTrainer{TData}"/> through
/// <see cref="LocalTraining.TrainLocalAsync"/> between checkpoints. A job with a checkpoint resumes from it
/// (weights, optimizer state and step), so its remaining steps draw what they would have drawn.
/// </summary>
internal sealed class StageFineTuning(
    TrainingSetReader trainingSet,
    TrainingFiles files,
    TrainingJobStore store,
    TrainingProgress progress,
    INodeAudit audit,
    IOptions<GenerationOptions> generationOptions,
    ILogger<StageFineTuning> log)
{
    public const string ResumeAction = "training:resume";

    private readonly GenerationOptions _generation = generationOptions.Value;

    public async Task<FineTuningResult> RunAsync(TrainingJob job, CancellationToken ct)
    {
        var stage = ModelStage.Parse(job.Stage);
        if (!_generation.IsConfigured)
        {
            throw new TrainingJobException(GenerationModels.NotConfigured().Message);
        }

        // A federated job trains from its round's base version (materialized by the federation client), a local one from the node's bundle.
        var bundlePath = job.Origin == TrainingOrigins.Federated && job.RoundKey is { } roundKey ? files.RoundBaseBundle(roundKey) : _generation.Bundle!;
        if (!Directory.Exists(bundlePath))
        {
            throw new TrainingJobException($"the round's base bundle is missing ({job.RoundKey}); the round cannot be trained");
        }

        var manifest = ModelBundle.ReadManifest(bundlePath);
        if (GenerationModels.VersionOf(manifest) is var version && version != job.BaseModel)
        {
            throw new TrainingJobException($"the node's bundle is now {version}, not {job.BaseModel} the job started from; start a new job");
        }

        var cases = await trainingSet.LoadCasesAsync(stage, ct);
        if (cases.Count == 0)
        {
            throw new TrainingJobException(stage == ModelStage.CtVit
                ? "the training set holds no assembled volume; push CT series to the node first"
                : $"no volume of the training set has a report with a prompt, and {stage.DisplayName} trains on prompts; send the reports (HL7 ORU, DICOM SR or UploadReport)");
        }

        var device = TorchDevice.Select(_generation.Device);
        using var bundle = await Task.Run(() => ModelBundle.Load(bundlePath, device), ct);
        var source = $"node training job {job.Id:N} ({job.Steps} steps on {cases.Count} local cases from {job.BaseModel})";
        if (stage == ModelStage.CtVit)
        {
            return await CtVitAsync(job, bundle, cases, device, source, ct);
        }

        return stage == ModelStage.MaskGit
            ? await MaskGitAsync(job, bundle, cases, device, source, ct)
            : await SuperResAsync(job, bundle, cases, device, source, ct);
    }

    private async Task<FineTuningResult> CtVitAsync(TrainingJob job, ModelBundle bundle, IReadOnlyList<TrainingCase> cases, Device device, string source, CancellationToken ct)
    {
        var config = bundle.Config;
        using var data = new CtVolumeDataset(cases.Select(c => c.Volume), config.CtVit, config.Frames);
        Trainable(bundle.CtVit);
        using var trainer = new CtVitTrainer(bundle.CtVit, data, new CtVitTrainingOptions
        {
            LearningRate = job.LearningRate,
            BatchSize = Math.Min(job.BatchSize, data.Count),
            Steps = job.Steps,
            Seed = job.Seed,
            Precision = TrainingPrecision.Auto,
            // A bundle keeps no discriminator (loss networks are not exchanged): local fine-tuning stays non-adversarial.
            DiscriminatorWarmupSteps = job.Steps + 1L,
        }, device, m => log.LogInformation("training job {Job}: {Message}", job.Id, m));
        return await RunStepsAsync(job, trainer, data, "checkpoint.gct",
            dir => ModelBundle.SaveStage(dir, ModelStage.CtVit, config.CtVit.Name, "ctvit.gct", bundle.CtVit, source, excludeKeys: CtVit.IsLossNetworkKey), ct);
    }

    private async Task<FineTuningResult> MaskGitAsync(TrainingJob job, ModelBundle bundle, IReadOnlyList<TrainingCase> cases, Device device, string source, CancellationToken ct)
    {
        var config = bundle.Config;
        // The wrapper freezes the CT-ViT; the bundle owns (and disposes) both networks.
        var transformer = new MaskGitTransformer(bundle.CtVit, bundle.MaskGit);
        Trainable(bundle.MaskGit);
        MaskGitDataset data;
        using (var volumes = new CtVolumeDataset(cases.Select(c => c.Volume), config.CtVit, config.Frames))
        {
            var samples = Enumerable.Range(0, volumes.Count).Select(i => volumes[i].unsqueeze(0)).ToList(); // 1 1 F h w each
            try
            {
                data = MaskGitDataset.Encode(transformer, samples, [.. cases.Select(c => c.Prompt)], bundle.Text, device);
            }
            finally
            {
                samples.ForEach(s => s.Dispose());
            }
        }

        using var dataScope = data;
        using var trainer = new MaskGitTrainer(transformer, new MaskGitTrainingOptions
        {
            LearningRate = job.LearningRate,
            WarmupSteps = 0,
            DecayEndStep = null,
            BatchSize = Math.Min(job.BatchSize, data.Count),
            CondDropProb = config.MaskGit.CondDropProb,
            Seed = job.Seed,
        });
        return await RunStepsAsync(job, trainer, data, "checkpoint.gct",
            dir => ModelBundle.SaveStage(dir, ModelStage.MaskGit, config.MaskGit.Name, "maskgit.gct", bundle.MaskGit, source), ct);
    }

    /// <summary>The first SR stage of the cascade (the one conditioned on CT-ViT reconstructions).</summary>
    private async Task<FineTuningResult> SuperResAsync(TrainingJob job, ModelBundle bundle, IReadOnlyList<TrainingCase> cases, Device device, string source, CancellationToken ct)
    {
        var config = bundle.Config;
        var unet = bundle.SuperRes[0];
        Trainable(unet);
        var diffusion = new SuperResDiffusion(unet, config.SuperRes[0].Diffusion);
        var examples = SuperResExamples(bundle, cases, device);
        try
        {
            using var trainer = new SuperResTrainer(diffusion, new SuperResTrainingOptions
            {
                LearningRate = job.LearningRate,
                BatchSize = Math.Min(job.BatchSize, examples.Count),
                CheckpointEvery = 0,
                Seed = job.Seed,
            });
            return await RunStepsAsync<IReadOnlyList<SuperResExample>>(job, trainer, examples, "checkpoint",
                dir => ModelBundle.SaveStage(dir, ModelStage.SuperRes, config.Name, "superres-1.gct", unet, source), ct);
        }
        finally
        {
            foreach (var e in examples)
            {
                e.HighRes.Dispose();
                e.LowRes?.Dispose();
            }

            // Slices of one volume share its prompt's embedding: dispose each tensor once (by reference, not by value).
            foreach (var t in examples.Select(e => e.TextEmbeds).Distinct<Tensor>(ReferenceEqualityComparer.Instance))
            {
                t.Dispose();
            }
        }
    }

    /// <summary>
    /// One SR example per axial slice, as `gct train all` makes them: the original at the stage's high
    /// resolution and the frozen CT-ViT's reconstruction as the low-resolution condition (paper §3.3), both in [0, 1].
    /// </summary>
    private static List<SuperResExample> SuperResExamples(ModelBundle bundle, IReadOnlyList<TrainingCase> cases, Device device)
    {
        var config = bundle.Config;
        var diffusion = config.SuperRes[0].Diffusion;
        var examples = new List<SuperResExample>();
        var embeddings = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var c in cases)
        {
            using var scope = NewDisposeScope();
            if (!embeddings.TryGetValue(c.Prompt, out var text))
            {
                using var embedding = bundle.Text.Embed([c.Prompt]);
                embeddings[c.Prompt] = text = embedding.Embeddings[0].detach().clone().DetachFromDisposeScope();  // j d
            }

            using var input = CtVolumeDataset.Preprocess(c.Volume, config.Frames, config.CtVit.ImageSize).unsqueeze(0).to(device);  // 1 1 F h w
            Tensor low;
            using (no_grad())
            {
                var recon = bundle.CtVit.Reconstruct(input).clamp(-1, 1);                                  // 1 1 F h w
                low = (recon.permute(0, 2, 1, 3, 4).reshape(-1, 1, recon.shape[3], recon.shape[4]) + 1) * 0.5; // F 1 h w
                if (low.shape[3] != diffusion.LowResSize)
                {
                    low = nn.functional.interpolate(low, [diffusion.LowResSize, diffusion.LowResSize], mode: InterpolationMode.Area);
                }
            }

            var high = ((CtVolumeDataset.Preprocess(c.Volume, config.Frames, diffusion.HighResSize).permute(1, 0, 2, 3) + 1) * 0.5).to(device); // F 1 H W
            for (var f = 0; f < config.Frames; f++)
            {
                examples.Add(new SuperResExample(high[f].clone().DetachFromDisposeScope(), low[f].clone().DetachFromDisposeScope(), text));
            }
        }

        return examples;
    }

    /// <summary>Runs the job's remaining steps in checkpoint-sized rounds of <see cref="LocalTraining.TrainLocalAsync"/>.</summary>
    private async Task<FineTuningResult> RunStepsAsync<TData>(TrainingJob job, IStageTrainer<TData> trainer, TData data, string checkpointName, Func<string, BundleComponent> saveResult, CancellationToken ct)
    {
        var done = 0;
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (job.CheckpointStep > 0)
        {
            if (files.CompleteCheckpoint(job.Id, job.CheckpointStep, checkpointName) is { } checkpoint)
            {
                await Task.Run(() => trainer.Resume(checkpoint), ct);
                done = job.CheckpointStep;
                metrics = job.Metrics is null ? metrics : JsonSerializer.Deserialize<Dictionary<string, double>>(job.Metrics) ?? metrics;
                await audit.RecordAsync("system", ResumeAction, "success", JsonSerializer.Serialize(new { job = job.Id.ToString("N"), stage = job.Stage, step = done, steps = job.Steps }), ct);
            }
            else
            {
                log.LogWarning("training job {Job}: checkpoint of step {Step} is missing; starting over", job.Id, job.CheckpointStep);
                await audit.RecordAsync("system", ResumeAction, "failure", JsonSerializer.Serialize(new { job = job.Id.ToString("N"), stage = job.Stage, step = job.CheckpointStep, error = "checkpoint missing; the job starts over" }), ct);
            }
        }

        var samples = trainer.SampleCount(data);
        var reporter = progress.For(job.Id);
        while (done < job.Steps)
        {
            var steps = Math.Min(job.CheckpointEvery, job.Steps - done);
            using (var update = await trainer.TrainLocalAsync(null, data, steps, reporter, ct))
            {
                metrics = Merge(metrics, done, update.Metrics, steps);
            }

            done += steps;
            if (done < job.Steps)
            {
                await Task.Run(() => files.WriteCheckpoint(job.Id, done, checkpointName, trainer.SaveCheckpoint), ct);
                // Recorded even when the node is stopping: the checkpoint is on disk, the restart should use it.
                await store.CheckpointAsync(job.Id, done, samples, metrics, CancellationToken.None);
                files.RemoveCheckpointsExcept(job.Id, done);
            }
        }

        BundleComponent? component = null;
        var result = await Task.Run(() => files.WriteResult(job.Id, dir =>
        {
            component = saveResult(dir);
            return Path.Combine(dir, component.File);
        }), ct);
        return new FineTuningResult(done, samples, metrics, result, component!.Sha256);
    }

    /// <summary>Means over all steps done: <paramref name="sofar"/> over <paramref name="before"/> steps, <paramref name="round"/> over <paramref name="steps"/> more.</summary>
    private static Dictionary<string, double> Merge(Dictionary<string, double> sofar, int before, IReadOnlyDictionary<string, double> round, int steps)
    {
        var merged = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in sofar.Keys.Union(round.Keys))
        {
            merged[name] = (sofar.TryGetValue(name, out var a), round.TryGetValue(name, out var b)) switch
            {
                (true, true) => ((a * before) + (b * steps)) / (before + steps),
                (true, false) => a,
                _ => b,
            };
        }

        return merged;
    }

    /// <summary>A bundle loads frozen (inference); the stage being fine-tuned learns again.</summary>
    private static void Trainable(nn.Module module)
    {
        foreach (var p in module.parameters())
        {
            p.requires_grad = true;
        }
    }
}
