using GenerateCT.Model.Training;

namespace GenerateCT.Node.Training;

/// <summary>The running job's latest step, as the worker last reported it (the database has it at each checkpoint).</summary>
internal sealed record LiveTrainingStep(Guid Job, long Step, double Loss, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// Live progress of the one running training job, for polling (GetTrainingJob): the trainer reports each
/// step here, the database records the job at each checkpoint.
/// </summary>
internal sealed class TrainingProgress
{
    private LiveTrainingStep? _latest;

    public LiveTrainingStep? Latest => Volatile.Read(ref _latest);

    public IProgress<TrainingStep> For(Guid job) => new Reporter(this, job);

    public void Clear(Guid job)
    {
        if (_latest?.Job == job)
        {
            Volatile.Write(ref _latest, null);
        }
    }

    private sealed class Reporter(TrainingProgress owner, Guid job) : IProgress<TrainingStep>
    {
        public void Report(TrainingStep value) =>
            Volatile.Write(ref owner._latest, new LiveTrainingStep(job, value.Step, value.Loss, value.Metrics));
    }
}
