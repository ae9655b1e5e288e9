using static TorchSharp.torch;

namespace GenerateCT.Model.Training;

/// <summary>
/// The shape every stage trainer (CT-ViT, MaskGIT, super-resolution) has, and the one a federated round
/// drives: load given weights, run N local optimizer steps over a data source, hand back the new weights,
/// the sample count and scalar metrics. Checkpoints resume exactly through <see cref="Resume"/>.
/// </summary>
/// <typeparam name="TData">The stage's local data source.</typeparam>
public interface IStageTrainer<in TData> : IDisposable
{
    ModelStage Stage { get; }

    IStageTrainingOptions Settings { get; }

    /// <summary>Optimizer steps taken so far (restored by <see cref="Resume"/>).</summary>
    long Step { get; }

    /// <summary>Samples in <paramref name="data"/> (the FedAvg weight of an update trained on it).</summary>
    int SampleCount(TData data);

    /// <summary>The weights a round exchanges, by state-dict key: copies on the CPU that the caller owns.</summary>
    Dictionary<string, Tensor> CopyWeights();

    /// <summary>Loads weights by key (as <see cref="CopyWeights"/> names them); a missing, unexpected or mis-shaped key is refused.</summary>
    void LoadWeights(IReadOnlyDictionary<string, Tensor> weights);

    /// <summary>One optimizer step over <see cref="IStageTrainingOptions.GradientAccumulationSteps"/> micro-batches drawn from <paramref name="data"/>.</summary>
    TrainingStep TrainStep(TData data);

    /// <summary>Writes weights, optimizer state and step so that <see cref="Resume"/> continues exactly.</summary>
    void SaveCheckpoint(string path);

    /// <summary>Restores what <see cref="SaveCheckpoint"/> wrote.</summary>
    void Resume(string path);
}
