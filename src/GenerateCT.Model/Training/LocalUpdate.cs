using static TorchSharp.torch;

namespace GenerateCT.Model.Training;

/// <summary>
/// The outcome of a round's local training (<see cref="IStageTrainer{TData}.TrainLocalAsync"/>): the
/// stage's new weights by name (copies on the CPU, owned by this object), the number of local
/// training samples they were trained on (n_k of FedAvg, McMahan et al. 2017, eq. 1), the optimizer
/// steps run and the round's scalar metrics (means over its steps; <c>loss</c> always among them).
/// </summary>
public sealed class LocalUpdate(ModelStage stage, Dictionary<string, Tensor> weights, int sampleCount, long steps, IReadOnlyDictionary<string, double> metrics) : IDisposable
{
    public ModelStage Stage { get; } = stage;

    public IReadOnlyDictionary<string, Tensor> Weights => weights;

    /// <summary>Local training samples (volumes, or slices for super-resolution) the round drew from.</summary>
    public int SampleCount { get; } = sampleCount;

    /// <summary>Optimizer steps run in the round.</summary>
    public long Steps { get; } = steps;

    public IReadOnlyDictionary<string, double> Metrics { get; } = metrics;

    public void Dispose()
    {
        foreach (var t in weights.Values)
        {
            t.Dispose();
        }

        weights.Clear();
    }
}
