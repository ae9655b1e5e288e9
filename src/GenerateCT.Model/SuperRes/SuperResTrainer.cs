using System.Text.Json;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>One training example: a high-res slice, optionally its low-res counterpart, and its report's text embedding.</summary>
/// <param name="HighRes">1 H W in [0, 1]</param>
/// <param name="LowRes">1 h w in [0, 1]; null → nearest down-sampling of HighRes (the released fallback)</param>
/// <param name="TextEmbeds">n d (T5 last hidden state, padded positions 0)</param>
/// <param name="TextMask">n, or null for "any feature ≠ 0"</param>
public sealed record SuperResExample(Tensor HighRes, Tensor? LowRes, Tensor TextEmbeds, Tensor? TextMask = null);

/// <summary>Optimiser and loop settings; defaults are the released ones (superres.yaml, imagen trainer).</summary>
public sealed record SuperResTrainingOptions : IStageTrainingOptions
{
    /// <summary>Adam learning rate (released 5e-4), β = (0.9, 0.99), ε = 1e-8 as in the imagen trainer.</summary>
    public double LearningRate { get; init; } = 5e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.99;
    public double Eps { get; init; } = 1e-8;

    /// <summary>Linear warm-up steps (imagen trainer <c>warmup_steps</c>; released: none).</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Step at which the half-cosine decay reaches 0 (imagen trainer <c>cosine_decay_max_steps</c>; released: none, constant rate).</summary>
    public long? DecayEndStep { get; init; }

    /// <summary>Slices per micro-batch (released 1).</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Micro-batches whose gradients are summed (each scaled 1/n) before one optimiser step.</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Optimiser steps between checkpoints (released save_every_x_it 200); 0 disables periodic saves.</summary>
    public int CheckpointEvery { get; init; } = 200;

    /// <summary>Seed of the data order, times, noise and crops: step k draws from a generator seeded by (Seed, k), so a resumed run continues exactly.</summary>
    public long Seed { get; init; }
}

/// <summary>
/// Trains the SR Unet with the released objective (<see cref="SuperResDiffusion.Loss"/>) and Adam, with
/// gradient accumulation, periodic checkpoints in a directory (unet weights, optimiser state, step) and
/// exact resume. Its data source is a list of examples (slices).
/// </summary>
public sealed class SuperResTrainer : IStageTrainer<IReadOnlyList<SuperResExample>>
{
    private const string UnetFile = "superres_unet.bin";
    private const string OptimizerFile = "optimizer.bin";
    private const string StateFile = "trainer.json";

    private readonly SuperResDiffusion _diffusion;
    private readonly SuperResTrainingOptions _options;
    private readonly Adam _optimizer;
    private readonly LearningRateSchedule _schedule;

    public SuperResTrainer(SuperResDiffusion diffusion, SuperResTrainingOptions options)
    {
        _diffusion = diffusion;
        _options = options;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GradientAccumulationSteps, 1);
        _optimizer = optim.Adam(diffusion.Unet.parameters(), options.LearningRate, options.Beta1, options.Beta2, options.Eps);
        _schedule = options.Schedule();
    }

    public ModelStage Stage => ModelStage.SuperRes;

    public SuperResTrainingOptions Options => _options;

    IStageTrainingOptions IStageTrainer<IReadOnlyList<SuperResExample>>.Settings => _options;

    /// <summary>Optimiser steps taken so far (restored by <see cref="Resume"/>).</summary>
    public long Step { get; private set; }

    public int SampleCount(IReadOnlyList<SuperResExample> data) => data.Count;

    /// <summary>The SR Unet's weights (the bundle's superres component).</summary>
    public Dictionary<string, Tensor> CopyWeights() => LocalTraining.CopyStateDict(_diffusion.Unet);

    public void LoadWeights(IReadOnlyDictionary<string, Tensor> weights) =>
        ReferenceWeights.Apply(_diffusion.Unet, weights, sourceName: $"{Stage.Name} round weights");

    /// <summary>One optimiser step over <see cref="SuperResTrainingOptions.GradientAccumulationSteps"/> micro-batches drawn from <paramref name="data"/>.</summary>
    public TrainingStep TrainStep(IReadOnlyList<SuperResExample> data)
    {
        RequireExamples(data);
        _diffusion.Unet.train();
        var (loss, lr) = OptimizerStep(data);
        Step++;
        return new TrainingStep(Stage, Step, loss, lr, new Dictionary<string, double>());
    }

    private static void RequireExamples(IReadOnlyList<SuperResExample> examples)
    {
        if (examples.Count == 0)
        {
            throw new ArgumentException("no training examples: give at least one high-res slice with its text embedding", nameof(examples));
        }
    }

    /// <summary>
    /// Runs optimiser steps until <see cref="Step"/> reaches <paramref name="totalSteps"/>; saves a checkpoint to
    /// <paramref name="checkpointDirectory"/> every <see cref="SuperResTrainingOptions.CheckpointEvery"/> steps and at the end;
    /// reports every step.
    /// </summary>
    /// <returns>the loss of each step run</returns>
    public async Task<IReadOnlyList<double>> TrainAsync(IReadOnlyList<SuperResExample> examples, long totalSteps, string? checkpointDirectory = null,
        IProgress<TrainingStep>? progress = null, CancellationToken cancellationToken = default)
    {
        RequireExamples(examples);

        var unet = _diffusion.Unet;
        var losses = new List<double>();
        while (Step < totalSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = await Task.Run(() => TrainStep(examples), cancellationToken).ConfigureAwait(false);
            losses.Add(step.Loss);
            progress?.Report(step);
            if (checkpointDirectory is not null && ((_options.CheckpointEvery > 0 && Step % _options.CheckpointEvery == 0) || Step == totalSteps))
            {
                SaveCheckpoint(checkpointDirectory);
            }
        }

        unet.eval();
        return losses;
    }

    private (double Loss, double LearningRate) OptimizerStep(IReadOnlyList<SuperResExample> examples)
    {
        // Grad mode is per thread, and a no_grad scope that crossed an await elsewhere can leave a pool thread
        // with it off: a training step always runs with gradients on.
        using var gradients = enable_grad();
        var device = _diffusion.Unet.parameters().First().device;
        using var generator = new Generator(SuperResDiffusion.SliceSeed(_options.Seed, unchecked((int)Step)));
        var lr = _schedule.Apply(_optimizer, Step);
        _optimizer.zero_grad();
        double total = 0;
        var micro = _options.GradientAccumulationSteps;
        for (var m = 0; m < micro; m++)
        {
            using var scope = NewDisposeScope();
            var picks = randint(examples.Count, new long[] { _options.BatchSize }, generator: generator).data<long>().ToArray();
            var batch = picks.Select(i => examples[(int)i]).ToList();
            var high = stack(batch.Select(e => e.HighRes).ToArray()).to(device);
            Tensor? low = batch.All(e => e.LowRes is not null) ? stack(batch.Select(e => e.LowRes!).ToArray()).to(device) : null;
            var (text, mask) = PadText(batch);
            var loss = _diffusion.Loss(high, low, text.to(device), mask.to(device), generator) / micro;
            loss.backward();
            total += loss.item<float>();
        }

        _optimizer.step();
        return (total, lr);
    }

    /// <summary>Pads the text embeddings of a batch to the longest one with zeros (mask false), as T5 batching does.</summary>
    private static (Tensor Text, Tensor Mask) PadText(IReadOnlyList<SuperResExample> batch)
    {
        var n = batch.Max(e => e.TextEmbeds.shape[0]);
        var texts = new List<Tensor>();
        var masks = new List<Tensor>();
        foreach (var e in batch)
        {
            var pad = n - e.TextEmbeds.shape[0];
            var mask = e.TextMask ?? e.TextEmbeds.ne(0).any(-1);
            texts.Add(nn.functional.pad(e.TextEmbeds, new long[] { 0, 0, 0, pad }));
            masks.Add(nn.functional.pad(mask.to(ScalarType.Bool), new long[] { 0, pad }, value: 0));
        }

        return (stack(texts.ToArray()), stack(masks.ToArray()));
    }

    /// <summary>Writes the Unet weights, the Adam state and the step to <paramref name="directory"/>.</summary>
    public void SaveCheckpoint(string directory)
    {
        Directory.CreateDirectory(directory);
        _diffusion.Unet.save(Path.Combine(directory, UnetFile));
        _optimizer.save_state_dict(Path.Combine(directory, OptimizerFile));
        File.WriteAllText(Path.Combine(directory, StateFile), JsonSerializer.Serialize(new CheckpointState(Step, _options.Seed)));
    }

    /// <summary>Restores weights, optimiser state and step written by <see cref="SaveCheckpoint"/> to the directory <paramref name="path"/>.</summary>
    public void Resume(string path)
    {
        var directory = path;
        var statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath))
        {
            throw new FileNotFoundException($"no SR training checkpoint in '{directory}' (expected {StateFile}); start without --resume or point at the checkpoint directory", statePath);
        }

        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath))
            ?? throw new InvalidDataException($"'{statePath}' is empty or not a trainer state");
        _diffusion.Unet.load(Path.Combine(directory, UnetFile), strict: true);
        _optimizer.load_state_dict(Path.Combine(directory, OptimizerFile));
        Step = state.Step;
    }

    public void Dispose() => _optimizer.Dispose();

    private sealed record CheckpointState(long Step, long Seed);
}
