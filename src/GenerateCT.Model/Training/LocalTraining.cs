using static TorchSharp.torch;

namespace GenerateCT.Model.Training;

/// <summary>A federated round's local work, the same for every <see cref="IStageTrainer{TData}"/>.</summary>
public static class LocalTraining
{
    /// <summary>
    /// Loads <paramref name="startWeights"/> (null: keep the trainer's current weights), runs
    /// <paramref name="steps"/> optimizer steps over <paramref name="data"/>, reporting each through
    /// <paramref name="progress"/>, and returns the new weights with the sample count and the mean of each
    /// scalar metric over the round. A non-finite loss stops the round (its update would poison the aggregate).
    /// </summary>
    public static Task<LocalUpdate> TrainLocalAsync<TData>(
        this IStageTrainer<TData> trainer,
        IReadOnlyDictionary<string, Tensor>? startWeights,
        TData data,
        int steps,
        IProgress<TrainingStep>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var samples = trainer.SampleCount(data);
        if (samples < 1)
        {
            throw new ArgumentException($"no local {trainer.Stage.Name} training samples: a round needs at least one", nameof(data));
        }

        return Task.Run(() =>
        {
            if (startWeights is not null)
            {
                trainer.LoadWeights(startWeights);
            }

            var sums = new Dictionary<string, double>(StringComparer.Ordinal);
            for (var i = 1; i <= steps; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var step = trainer.TrainStep(data);
                if (!double.IsFinite(step.Loss))
                {
                    throw new InvalidOperationException($"{trainer.Stage.Name} training diverged at step {step.Step} (loss {step.Loss}); lower the learning rate");
                }

                Add(sums, "loss", step.Loss);
                Add(sums, "learning_rate", step.LearningRate);
                foreach (var (name, value) in step.Metrics)
                {
                    Add(sums, name, value);
                }

                progress?.Report(step);
            }

            var metrics = sums.ToDictionary(kv => kv.Key, kv => kv.Value / steps, StringComparer.Ordinal);
            return new LocalUpdate(trainer.Stage, trainer.CopyWeights(), samples, steps, metrics);
        }, cancellationToken);
    }

    /// <summary>CPU copies of <paramref name="module"/>'s state dict, without the keys <paramref name="exclude"/> picks.</summary>
    internal static Dictionary<string, Tensor> CopyStateDict(TorchSharp.torch.nn.Module module, Func<string, bool>? exclude = null)
    {
        using var noGrad = no_grad();
        var copies = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, tensor) in Checkpoints.StateDictLayout.Ordered(module))
        {
            if (exclude?.Invoke(key) != true)
            {
                copies[key] = tensor.detach().cpu().clone();
            }
        }

        return copies;
    }

    private static void Add(Dictionary<string, double> sums, string name, double value) =>
        sums[name] = sums.GetValueOrDefault(name) + value;
}
