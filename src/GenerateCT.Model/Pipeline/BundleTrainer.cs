using GenerateCT.Imaging;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Precision;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Text;
using GenerateCT.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Pipeline;

/// <summary>One training example: an HU volume and the prompt of its report.</summary>
public sealed record TrainingCase(Volume Volume, string Prompt);

/// <summary>Progress of `train all`: stage (a <see cref="ModelStage"/> name, superres-k for a later SR stage), step i of n, and the last loss.</summary>
public readonly record struct TrainingProgress(string Stage, long Step, long Steps, double Loss);

/// <summary>Bounded training of the three stages (step counts, not epochs: CPU runs must end).</summary>
public sealed record TrainAllOptions
{
    public int CtVitSteps { get; init; } = 300;

    public int MaskGitSteps { get; init; } = 300;

    public int SuperResSteps { get; init; } = 300;

    public int BatchSize { get; init; } = 4;

    /// <summary>Adam learning rates; the paper's 3e-5 (CT-ViT, MaskGIT) and 5e-4 (SR) assume 10⁵ steps.</summary>
    public double CtVitLearningRate { get; init; } = 2e-3;

    public double MaskGitLearningRate { get; init; } = 2e-3;

    public double SuperResLearningRate { get; init; } = 3e-3;

    /// <summary>
    /// Upper end of the SR low-res augmentation times in training (released 1): short runs learn the
    /// low-noise regime that sampling uses far sooner with 0.25 (see <see cref="SuperResDiffusionOptions.TrainingLowresNoiseMax"/>).
    /// </summary>
    public double SuperResLowresNoiseMax { get; init; } = 0.25;

    /// <summary>Seeds the weight init, the data order, masking and diffusion noise: one seed, one bundle.</summary>
    public long Seed { get; init; } = 1;
}

/// <summary>
/// `gct train all`: trains CT-ViT through <see cref="CtVitTrainer"/> (L2 reconstruction + VQ commitment;
/// the tiny config has no VGG/GAN, so its perceptual and adversarial terms stay off; float32), then
/// MaskGIT on the frozen CT-ViT's codes through <see cref="MaskGitTrainer"/> (masked-token
/// cross-entropy with the cosine masking schedule and 25 % text dropout, as MaskGITTransformer.forward),
/// then each SR stage through <see cref="SuperResTrainer"/> on (CT-ViT reconstruction → original) slice
/// pairs (the paper's noisy conditioning, §3.3) with the released v-loss, and writes a bundle.
/// The text encoder is frozen throughout (paper §3.3): for the
/// tiny config it is a seeded random T5 with the shared tiny SentencePiece model, since no tiny weights
/// were ever released; prompts still map deterministically to distinct embeddings.
/// </summary>
public static class BundleTrainer
{
    public const string TinyTextEncoderNote =
        "tiny text encoder: T5 v1.1 tiny config (d_model 32, vocabulary 400) with deterministic seeded random weights, frozen as in the paper; tokenizer tests/fixtures/reference/spm_tiny.model (shipped as tokenizers/spm_tiny.model). No tiny T5 weights were ever released.";

    public static async Task<BundleManifest> TrainAsync(
        GenerationConfig config,
        IReadOnlyList<TrainingCase> cases,
        string tokenizerModelPath,
        string bundleDirectory,
        TrainAllOptions options,
        Device device,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (cases.Count == 0)
        {
            throw new ArgumentException("no training cases: the data folder holds no phantom volumes with reports", nameof(cases));
        }

        if (config.TextConfigName != "tiny")
        {
            throw new NotSupportedException($"`train all` builds a seeded tiny text encoder; config '{config.Name}' needs the released T5 (use `gct model import-released`)");
        }

        return await Task.Run(() => TrainCoreAsync(config, cases, tokenizerModelPath, bundleDirectory, options, device, progress, cancellationToken), cancellationToken);
    }

    private static async Task<BundleManifest> TrainCoreAsync(GenerationConfig config, IReadOnlyList<TrainingCase> cases, string tokenizerModelPath, string bundleDirectory,
        TrainAllOptions options, Device device, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(bundleDirectory);
        manual_seed(options.Seed);
        var rng = new Random((int)(options.Seed & 0x7fffffff));

        // Frozen text encoder: seeded weights, written once, embeddings of every report computed once.
        var encoder = new T5Encoder(config.Text);
        var textDir = Path.Combine(bundleDirectory, "text-encoder");
        ModelBundle.WriteTextEncoder(textDir, encoder, tokenizerModelPath);
        using var text = new TextEmbedder(encoder, T5Tokenizer.FromFile(tokenizerModelPath), device, cacheCapacity: 0);
        var components = new List<BundleComponent>();

        using var volumes = Stack(cases, config.Frames, (int)config.CtVit.ImageSize, device);   // N 1 F h w in [-1, 1]
        var prompts = cases.Select(c => c.Prompt).ToList();

        // Stage 1: CT-ViT, through the stage's own trainer.
        using var ctvit = new CtVit.CtVit(config.CtVit);
        using (var ctvitData = new CtVolumeDataset(cases.Select(c => c.Volume), config.CtVit, config.Frames))
        using (var ctvitTrainer = new CtVitTrainer(ctvit, ctvitData, new CtVitTrainingOptions
        {
            LearningRate = options.CtVitLearningRate,
            BatchSize = Math.Min(options.BatchSize, cases.Count),
            Steps = options.CtVitSteps,
            Seed = options.Seed,
            Precision = TrainingPrecision.Fp32,
        }, device))
        {
            RunSteps(ctvitTrainer, ctvitData, options.CtVitSteps, ModelStage.CtVit.Name, progress, ct);
        }

        ctvit.eval();
        components.Add(ModelBundle.SaveStage(bundleDirectory, ModelStage.CtVit, config.CtVit.Name, "ctvit.gct", ctvit,
            $"trained by `gct train all` ({options.CtVitSteps} steps on {cases.Count} cases)"));

        // Stage 2: MaskGIT on the frozen CT-ViT codes, through the stage's own trainer (the released
        // MaskGITTransformer.forward masking, text dropout and loss; warm-up + cosine schedule).
        Tensor codes;                                                                             // N t h w
        Tensor recon;                                                                             // N 1 F h w
        using (no_grad())
        {
            codes = ctvit.EncodeToIndices(volumes).DetachFromDisposeScope();
            recon = ctvit.Reconstruct(volumes).clamp(-1, 1).DetachFromDisposeScope();
        }

        using var codesScope = codes;
        using var reconScope = recon;
        var maskgit = new MaskGit.MaskGit(config.MaskGit);
        using var maskgitScope = maskgit;
        maskgit.to(device);
        // The wrapper freezes the CT-ViT; it is not disposed here because ctvit and maskgit are (above).
        var transformer = new MaskGitTransformer(ctvit, maskgit);
        using (var maskgitTrainer = new MaskGitTrainer(transformer, new MaskGitTrainingOptions
        {
            LearningRate = options.MaskGitLearningRate,
            WarmupSteps = Math.Min(50, options.MaskGitSteps / 10),
            DecayEndStep = options.MaskGitSteps,
            CondDropProb = config.MaskGit.CondDropProb,
            Seed = options.Seed,
        }))
        {
            for (var step = 1; step <= options.MaskGitSteps; step++)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var index = SampleBatch(cases.Count, options.BatchSize, rng, device);
                using var embedding = text.Embed(Pick(prompts, index));
                var report = maskgitTrainer.TrainStep([new MaskGitBatch(codes.index_select(0, index), embedding.Embeddings, embedding.Mask)]);
                ThrowIfDiverged(ModelStage.MaskGit.Name, step, report.Loss);
                progress?.Report(new TrainingProgress(ModelStage.MaskGit.Name, step, options.MaskGitSteps, report.Loss));
            }
        }

        maskgit.eval();
        components.Add(ModelBundle.SaveStage(bundleDirectory, ModelStage.MaskGit, config.MaskGit.Name, "maskgit.gct", maskgit,
            $"trained by `gct train all` ({options.MaskGitSteps} steps on the frozen CT-ViT codes)"));

        // Stage 3: the SR cascade on slices; stage 1's conditioning is the CT-ViT reconstruction.
        for (var s = 0; s < config.SuperRes.Count; s++)
        {
            var stage = config.SuperRes[s];
            using var high = SlicesAt(cases, config.Frames, stage.Diffusion.HighResSize, device);          // (N F) 1 H W in [0, 1]
            using var low = s == 0
                ? ((recon.permute(0, 2, 1, 3, 4).reshape(-1, 1, recon.shape[3], recon.shape[4]) + 1) * 0.5) // (N F) 1 h w
                : nn.functional.interpolate(high, [stage.Diffusion.LowResSize, stage.Diffusion.LowResSize], mode: InterpolationMode.Area);
            using var unet = new SuperResUnet(stage.Unet);
            unet.to(device);
            var diffusion = new SuperResDiffusion(unet, stage.Diffusion with { TrainingLowresNoiseMax = options.SuperResLowresNoiseMax });
            var name = config.SuperRes.Count == 1 ? ModelStage.SuperRes.Name : $"{ModelStage.SuperRes.Name}-{s + 1}";
            var examples = SuperResExamples(high, low, prompts, config.Frames, text);
            using var trainer = new SuperResTrainer(diffusion, new SuperResTrainingOptions
            {
                LearningRate = options.SuperResLearningRate,
                WarmupSteps = Math.Min(50, options.SuperResSteps / 10),
                DecayEndStep = options.SuperResSteps,
                BatchSize = options.BatchSize,
                CheckpointEvery = 0,
                Seed = options.Seed + s,
            });
            await trainer.TrainAsync(examples, options.SuperResSteps,
                progress: progress is null ? null : new StageProgress(p => progress.Report(new TrainingProgress(name, p.Step, options.SuperResSteps, p.Loss))),
                cancellationToken: ct);
            unet.eval();
            components.Add(ModelBundle.SaveStage(bundleDirectory, ModelStage.SuperRes, config.Name, $"superres-{s + 1}.gct", unet,
                $"trained by `gct train all` ({options.SuperResSteps} steps, {stage.Diffusion.LowResSize}→{stage.Diffusion.HighResSize})"));
        }

        components.Add(ModelBundle.TextEncoderComponent(bundleDirectory, config.TextConfigName, "text-encoder",
            $"seeded (seed {options.Seed}), not trained", TinyTextEncoderNote));
        var manifest = new BundleManifest
        {
            Pipeline = config.Name,
            Components = components,
            Notes =
            [
                TinyTextEncoderNote,
                $"trained on {cases.Count} synthetic phantom cases; for demonstration and tests, not for clinical use",
            ],
        };
        ModelBundle.WriteManifest(bundleDirectory, manifest);
        return manifest;
    }

    /// <summary>One SR example per slice; each distinct prompt is embedded once (frozen encoder).</summary>
    private static List<SuperResExample> SuperResExamples(Tensor high, Tensor low, IReadOnlyList<string> prompts, int frames, TextEmbedder text)
    {
        var embeddings = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var prompt in prompts.Distinct(StringComparer.Ordinal))
        {
            using var embedding = text.Embed([prompt]);
            embeddings[prompt] = embedding.Embeddings[0].detach().clone().DetachFromDisposeScope();
        }

        return Enumerable.Range(0, (int)high.shape[0])
            .Select(i => new SuperResExample(high[i], low[i], embeddings[prompts[i / frames]]))
            .ToList();
    }

    private sealed class StageProgress(Action<TrainingStep> report) : IProgress<TrainingStep>
    {
        public void Report(TrainingStep value) => report(value);
    }

    /// <summary>Runs <paramref name="steps"/> optimizer steps of a stage trainer on <paramref name="data"/>, stopping on a diverged loss.</summary>
    private static void RunSteps<TData>(IStageTrainer<TData> trainer, TData data, int steps, string stage, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        for (var step = 1; step <= steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            var report = trainer.TrainStep(data);
            ThrowIfDiverged(stage, step, report.Loss);
            progress?.Report(new TrainingProgress(stage, step, steps, report.Loss));
        }
    }

    private static void ThrowIfDiverged(string stage, int step, double loss)
    {
        if (!double.IsFinite(loss))
        {
            throw new InvalidOperationException($"{stage} training diverged at step {step} (loss {loss}); lower the learning rate");
        }
    }

    private static Tensor SampleBatch(int count, int batch, Random rng, Device device)
    {
        var ids = new long[Math.Min(batch, count)];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = rng.Next(count);
        }

        return tensor(ids, device: device);
    }

    private static List<string> Pick(List<string> prompts, Tensor index) =>
        index.cpu().data<long>().Select(i => prompts[(int)i]).ToList();

    /// <summary>HU volumes → N 1 F S S in [-1, 1] (clip ±1000, /1000, trilinear resample).</summary>
    private static Tensor Stack(IReadOnlyList<TrainingCase> cases, int frames, int size, Device device)
    {
        using var scope = NewDisposeScope();
        var list = cases.Select(c => Resample(c.Volume, frames, size)).ToArray();
        return cat(list, 0).to(device).MoveToOuterDisposeScope();
    }

    /// <summary>Axial slices of every case at <paramref name="size"/>²: (N F) 1 S S in [0, 1].</summary>
    private static Tensor SlicesAt(IReadOnlyList<TrainingCase> cases, int frames, int size, Device device)
    {
        using var scope = NewDisposeScope();
        var stacked = cat(cases.Select(c => Resample(c.Volume, frames, size)).ToArray(), 0);       // N 1 F S S
        var slices = stacked.permute(0, 2, 1, 3, 4).reshape(-1, 1, size, size);
        return ((slices + 1) * 0.5).to(device).MoveToOuterDisposeScope();
    }

    internal static Tensor Resample(Volume volume, int frames, int size)
    {
        using var scope = NewDisposeScope();
        var x = tensor(volume.Voxels, [1, 1, volume.Depth, volume.Height, volume.Width]).clamp(-1000, 1000) / 1000;
        var y = nn.functional.interpolate(x, [frames, size, size], mode: InterpolationMode.Trilinear, align_corners: false);
        return y.MoveToOuterDisposeScope();
    }
}
