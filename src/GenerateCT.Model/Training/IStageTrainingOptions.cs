namespace GenerateCT.Model.Training;

/// <summary>
/// The settings every stage trainer has under the same names: Adam's learning rate and betas, the
/// micro-batch size, micro-batches per optimizer step, the <see cref="LearningRateSchedule"/>
/// (linear warm-up, then a half-cosine to 0 at <see cref="DecayEndStep"/>; null keeps the rate
/// constant) and the seed of the data order and noise.
/// </summary>
public interface IStageTrainingOptions
{
    double LearningRate { get; }

    double Beta1 { get; }

    double Beta2 { get; }

    /// <summary>Samples per micro-batch.</summary>
    int BatchSize { get; }

    /// <summary>Micro-batches whose gradients are averaged into one optimizer step (effective batch = BatchSize × this).</summary>
    int GradientAccumulationSteps { get; }

    /// <summary>Linear warm-up steps from 0 to <see cref="LearningRate"/>.</summary>
    long WarmupSteps { get; }

    /// <summary>Step at which the half-cosine decay reaches 0; null: constant after the warm-up.</summary>
    long? DecayEndStep { get; }

    long Seed { get; }
}

/// <summary>The schedule of a trainer's options.</summary>
public static class StageTrainingOptionsExtensions
{
    public static LearningRateSchedule Schedule(this IStageTrainingOptions options) =>
        new(options.LearningRate, options.WarmupSteps, options.DecayEndStep);
}
