namespace GenerateCT.Model.Training;

/// <summary>
/// What one optimizer step of any stage trainer did: the step number after it (1-based, counting
/// resumed steps), its training loss, the learning rate it used, and the stage's named scalar metrics
/// (e.g. <c>psnr</c>, <c>masked_accuracy</c>, <c>critic_loss</c>). This is the progress event every
/// trainer reports through <see cref="IProgress{T}"/>.
/// </summary>
public sealed record TrainingStep(ModelStage Stage, long Step, double Loss, double LearningRate, IReadOnlyDictionary<string, double> Metrics);
