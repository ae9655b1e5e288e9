using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>Stage-2 training settings; defaults are the paper's (Adam 0.9/0.99, lr 3e-5, 10k warm-up, cosine).</summary>
public sealed record MaskGitTrainingOptions : IStageTrainingOptions
{
    public double LearningRate { get; init; } = 3e-5;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.99;

    /// <summary>Linear warm-up from 0 to <see cref="LearningRate"/>.</summary>
    public long WarmupSteps { get; init; } = 10_000;

    /// <summary>The step at which the cosine decay reaches 0 (the paper's whole run); null keeps the rate constant after the warm-up.</summary>
    public long? DecayEndStep { get; init; } = 500_000;

    /// <summary>Volumes per micro-batch.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Micro-batches per optimizer step (paper: effective batch 4).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Probability of hiding a sample's text, for classifier-free guidance.</summary>
    public double CondDropProb { get; init; } = 0.25;

    /// <summary>Gradient-norm clip (none when null).</summary>
    public double? MaxGradNorm { get; init; }

    /// <summary>Weight of the token-critic binary cross-entropy in the total loss (reference critic_loss_weight).</summary>
    public double CriticLossWeight { get; init; } = 1;

    /// <summary>Gumbel temperature of the generator samples the critic is trained on (reference critic_train_sample_temperature).</summary>
    public double CriticSampleTemperature { get; init; } = 1;

    /// <summary>Seeds the masking and text-dropout draws; step k uses seed + k, so a resumed run continues the same stream.</summary>
    public long Seed { get; init; }
}

/// <summary>One micro-batch: CT-ViT ids (b, t, h, w) and the prompt embeddings (null when unconditional).</summary>
public sealed record MaskGitBatch(Tensor Ids, Tensor? Context, Tensor? TextMask);

/// <summary>What one optimizer step did: masked-token cross-entropy, accuracy and, with a token critic, its binary cross-entropy.</summary>
public sealed record MaskGitStepReport(long Step, double Loss, double Accuracy, double LearningRate, double? CriticLoss = null)
{
    /// <summary>The stage-independent form: <c>masked_accuracy</c> and, with a critic, <c>critic_loss</c> as metrics.</summary>
    public TrainingStep ToTrainingStep()
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["masked_accuracy"] = Accuracy };
        if (CriticLoss is { } critic)
        {
            metrics["critic_loss"] = critic;
        }

        return new TrainingStep(ModelStage.MaskGit, Step, Loss, LearningRate, metrics);
    }
}

/// <summary>
/// Trains the MaskGit of a <see cref="MaskGitTransformer"/>, and its token critic when it has one (the
/// CT-ViT stays frozen): masked-token cross-entropy with cosine-schedule masking and text dropout, plus the
/// weighted critic binary cross-entropy, Adam with warm-up + cosine decay,
/// gradient accumulation, and checkpoints that resume exactly where they stopped.
/// </summary>
public sealed class MaskGitTrainer : IStageTrainer<MaskGitDataset>
{
    private const string OptimizerSection = "optimizer.adam";

    private readonly MaskGitTransformer _model;
    private readonly Adam _optimizer;

    public MaskGitTrainer(MaskGitTransformer model, MaskGitTrainingOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GradientAccumulationSteps, 1);
        _model = model;
        Options = options;
        Schedule = options.Schedule();
        _optimizer = optim.Adam(model.TrainableParameters(), lr: options.LearningRate, beta1: options.Beta1, beta2: options.Beta2);
    }

    public MaskGitTrainingOptions Options { get; }

    public ModelStage Stage => ModelStage.MaskGit;

    IStageTrainingOptions IStageTrainer<MaskGitDataset>.Settings => Options;

    /// <summary>Optimizer steps taken so far (restored on resume).</summary>
    public long Step { get; private set; }

    /// <summary>Learning rate at optimizer step <paramref name="step"/> (0-based): linear warm-up, then half-cosine to 0 at <see cref="MaskGitTrainingOptions.DecayEndStep"/>.</summary>
    public double LearningRateAt(long step) => Schedule.At(step);

    private LearningRateSchedule Schedule { get; }

    public int SampleCount(MaskGitDataset data) => data.Count;

    /// <summary>The MaskGIT (maskgit.*) and, with one, token-critic (critic.*) weights; the frozen CT-ViT is not exchanged.</summary>
    public Dictionary<string, Tensor> CopyWeights() => LocalTraining.CopyStateDict(_model, IsFrozenKey);

    /// <summary>Loads maskgit.* (and critic.*) weights; ctvit.* are loaded when given, not required.</summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> weights) =>
        ReferenceWeights.Apply(_model, weights, IsFrozenKey, $"{Stage.Name} round weights");

    private static bool IsFrozenKey(string key) => key.StartsWith("ctvit.", StringComparison.Ordinal);

    /// <summary>One optimizer step over micro-batches drawn from <paramref name="data"/> as <see cref="RunAsync"/> draws them.</summary>
    public TrainingStep TrainStep(MaskGitDataset data)
    {
        var micro = DrawMicroBatches(data);
        try
        {
            return TrainStep(micro).ToTrainingStep();
        }
        finally
        {
            Release(micro);
        }
    }

    /// <summary>One optimizer step over <see cref="MaskGitTrainingOptions.GradientAccumulationSteps"/> micro-batches.</summary>
    public MaskGitStepReport TrainStep(IReadOnlyList<MaskGitBatch> microBatches)
    {
        // Grad mode is per thread, and a no_grad scope that crossed an await elsewhere can leave a pool thread
        // with it off: a training step always runs with gradients on.
        using var gradients = enable_grad();
        if (microBatches.Count != Options.GradientAccumulationSteps)
        {
            throw new ArgumentException($"expected {Options.GradientAccumulationSteps} micro-batches per step, got {microBatches.Count}", nameof(microBatches));
        }

        _model.train();
        var lr = Schedule.Apply(_optimizer, Step);

        _optimizer.zero_grad();
        var generator = new Generator((ulong)(Options.Seed + Step), microBatches[0].Ids.device);
        double loss = 0, accuracy = 0;
        double? criticLoss = null;
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            using var result = _model.Loss(batch.Ids, batch.Context, batch.TextMask, Options.CondDropProb, generator, Options.CriticSampleTemperature);
            // MaskGITTransformer.forward returns loss + critic_loss · critic_loss_weight.
            var total = result.CriticLoss is { } critic ? result.Loss + (critic * Options.CriticLossWeight) : result.Loss;
            (total / microBatches.Count).backward();
            loss += result.Loss.item<float>() / microBatches.Count;
            accuracy += result.Accuracy.item<float>() / microBatches.Count;
            if (result.CriticLoss is { } c)
            {
                criticLoss = (criticLoss ?? 0) + (c.item<float>() / microBatches.Count);
            }
        }

        if (Options.MaxGradNorm is { } maxNorm)
        {
            nn.utils.clip_grad_norm_(_model.TrainableParameters(), maxNorm);
        }

        _optimizer.step();
        Step++;
        return new MaskGitStepReport(Step, loss, accuracy, lr, criticLoss);
    }

    /// <summary>
    /// Trains until <paramref name="totalSteps"/> optimizer steps (counting resumed ones), sampling
    /// <see cref="MaskGitTrainingOptions.BatchSize"/> volumes per micro-batch with a step-seeded generator (a resumed run
    /// draws the same batches), reporting every step, writing the checkpoint every <paramref name="checkpointEvery"/> steps and at the end.
    /// </summary>
    public async Task RunAsync(
        MaskGitDataset data,
        long totalSteps,
        string checkpointPath,
        long checkpointEvery = 0,
        IProgress<TrainingStep>? progress = null,
        CancellationToken cancellationToken = default)
    {
        MaskGitStepReport? last = null;
        while (Step < totalSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var micro = DrawMicroBatches(data);
            try
            {
                last = await Task.Run(() => TrainStep(micro), cancellationToken);
            }
            finally
            {
                Release(micro);
            }

            progress?.Report(last.ToTrainingStep());
            if (checkpointEvery > 0 && Step % checkpointEvery == 0 && Step < totalSteps)
            {
                SaveCheckpoint(checkpointPath, Metrics(last));
            }
        }

        SaveCheckpoint(checkpointPath, last is null ? null : Metrics(last));
    }

    /// <summary>The micro-batches of the next step, from a generator seeded by (seed, step) so that a resumed run draws the same ones.</summary>
    private List<MaskGitBatch> DrawMicroBatches(MaskGitDataset data)
    {
        var random = new Random(unchecked((int)(Options.Seed * 7919) + (int)Step));
        var micro = new List<MaskGitBatch>(Options.GradientAccumulationSteps);
        for (var m = 0; m < Options.GradientAccumulationSteps; m++)
        {
            micro.Add(data.Batch([.. Enumerable.Range(0, Options.BatchSize).Select(_ => random.Next(data.Count))]));
        }

        return micro;
    }

    private static void Release(List<MaskGitBatch> micro)
    {
        foreach (var b in micro)
        {
            b.Ids.Dispose();
            b.Context?.Dispose();
            b.TextMask?.Dispose();
        }
    }

    private static Dictionary<string, double> Metrics(MaskGitStepReport report)
    {
        var metrics = new Dictionary<string, double>
        {
            ["loss"] = report.Loss,
            ["masked_accuracy"] = report.Accuracy,
            ["learning_rate"] = report.LearningRate,
        };
        if (report.CriticLoss is { } critic)
        {
            metrics["critic_loss"] = critic;
        }

        return metrics;
    }

    /// <summary>
    /// Held-out masked-token cross-entropy (no text dropout, eval mode), averaged over
    /// <paramref name="draws"/> maskings seeded by <paramref name="seed"/> so that two models or two
    /// prompt assignments are compared on the same masks.
    /// </summary>
    public static double Evaluate(MaskGitTransformer model, MaskGitBatch batch, long seed, int draws = 4) =>
        MeanOverDraws(model, batch, seed, draws, 1, includeCritic: false, r => r.Loss);

    /// <summary>
    /// Held-out token-critic binary cross-entropy (no text dropout, eval mode) over <paramref name="draws"/>
    /// maskings and generator samples seeded by <paramref name="seed"/>.
    /// </summary>
    public static double EvaluateCritic(MaskGitTransformer model, MaskGitBatch batch, long seed, int draws = 4, double sampleTemperature = 1)
    {
        if (model.Critic is null)
        {
            throw new InvalidOperationException("the model has no token critic (set MaskGitConfig.TokenCritic)");
        }

        return MeanOverDraws(model, batch, seed, draws, sampleTemperature, includeCritic: true, r => r.CriticLoss!);
    }

    /// <summary>A loss of <see cref="MaskGitTransformer.Loss"/> in eval mode without text dropout, averaged over seeded draws.</summary>
    private static double MeanOverDraws(MaskGitTransformer model, MaskGitBatch batch, long seed, int draws, double sampleTemperature, bool includeCritic, Func<MaskGitLoss, Tensor> pick)
    {
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            var total = 0.0;
            for (var d = 0; d < draws; d++)
            {
                using var generator = new Generator((ulong)(seed + d), batch.Ids.device);
                using var result = model.Loss(batch.Ids, batch.Context, batch.TextMask, condDropProb: 0, generator, sampleTemperature, includeCritic);
                total += pick(result).item<float>();
            }

            return total / draws;
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Writes model (ctvit.* + maskgit.*, and critic.* with a token critic), optimizer state and step, atomically.</summary>
    public void SaveCheckpoint(string path) => SaveCheckpoint(path, metrics: null);

    /// <summary>As <see cref="SaveCheckpoint(string)"/>, keeping <paramref name="metrics"/> in the checkpoint's header.</summary>
    public void SaveCheckpoint(string path, IReadOnlyDictionary<string, double>? metrics)
    {
        using var optimizerState = new MemoryStream();
        using (var writer = new BinaryWriter(optimizerState, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            _optimizer.save_state_dict(writer);
        }

        var info = new CheckpointInfo
        {
            Stage = Stage.Name,
            Config = _model.MaskGit.Config.Name,
            Step = Step,
            Metrics = metrics?.ToDictionary() ?? [],
        };
        ModelCheckpoint.Save(path, _model, info, new Dictionary<string, byte[]> { [OptimizerSection] = optimizerState.ToArray() });
    }

    /// <summary>Restores model weights, optimizer moments and step from <see cref="SaveCheckpoint"/>.</summary>
    public void Resume(string path)
    {
        using var checkpoint = ModelCheckpoint.Read(path);
        if (!Stage.Is(checkpoint.Info.Stage))
        {
            throw new CheckpointFormatException($"{path} is a '{checkpoint.Info.Stage}' checkpoint, not a MaskGIT one");
        }

        var savedCritic = checkpoint.State.Keys.Any(k => k.StartsWith("critic.", StringComparison.Ordinal));
        if (savedCritic != (_model.Critic is not null))
        {
            throw new CheckpointFormatException(savedCritic
                ? $"{path} was trained with a token critic; resume it with the critic on (--token-critic, MaskGitConfig.TokenCritic)"
                : $"{path} was trained without a token critic; resume it with the critic off (no --token-critic)");
        }

        ReferenceWeights.Apply(_model, checkpoint.State, sourceName: path);
        if (!checkpoint.Sections.TryGetValue(OptimizerSection, out var optimizerBytes))
        {
            throw new CheckpointFormatException($"{path} has no optimizer state; it cannot resume training (start a new run from its weights instead)");
        }

        using var reader = new BinaryReader(new MemoryStream(optimizerBytes));
        _optimizer.load_state_dict(reader);
        Step = checkpoint.Info.Step;
    }

    public void Dispose() => _optimizer.Dispose();
}
