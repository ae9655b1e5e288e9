using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Node.Jobs;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Training;

/// <summary>Where a training job came from: an Admin's request, or a federated round's local steps.</summary>
internal static class TrainingOrigins
{
    public const string Local = "local";
    public const string Federated = "federated";
}

/// <summary>
/// Training jobs in the node database, with the generation jobs' states (<see cref="JobStates"/>; a training
/// job is not cancelled, so it ends succeeded or failed). State changes are conditional updates (queued →
/// running only if still queued), so a job is claimed once. A job interrupted while running keeps its
/// checkpoint step and goes back to the queue at the next start.
/// </summary>
internal sealed class TrainingJobStore(IDbContextFactory<NodeDb> databases)
{
    private const int MaxError = 2048;

    public async Task CreateAsync(TrainingJob job, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        db.TrainingJobs.Add(job);
        await db.SaveChangesAsync(ct);
    }

    public async Task<TrainingJob?> FindAsync(Guid id, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.TrainingJobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == id, ct);
    }

    /// <summary>Newest first.</summary>
    public async Task<IReadOnlyList<TrainingJob>> ListAsync(int limit, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.TrainingJobs.AsNoTracking().OrderByDescending(j => j.CreatedAt).ThenBy(j => j.Id).Take(limit).ToListAsync(ct);
    }

    /// <summary>Moves the oldest queued job to running and returns it; null when none is queued (<see cref="JobQueue"/>).</summary>
    public async Task<TrainingJob?> ClaimNextAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await JobQueue.ClaimNextAsync(db.TrainingJobs, ct);
    }

    /// <summary>Records a durable checkpoint: the job resumes from <paramref name="step"/> with these running metrics.</summary>
    public async Task CheckpointAsync(Guid id, int step, int sampleCount, IReadOnlyDictionary<string, double> metrics, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var json = JsonSerializer.Serialize(metrics);
        await db.TrainingJobs
            .Where(j => j.Id == id && j.State == JobStates.Running)
            .ExecuteUpdateAsync(
                s => s.SetProperty(j => j.CheckpointStep, step)
                    .SetProperty(j => j.Step, step)
                    .SetProperty(j => j.SampleCount, sampleCount)
                    .SetProperty(j => j.Metrics, json),
                ct);
    }

    /// <summary>Ends a running job as succeeded with its result file.</summary>
    public async Task SucceedAsync(Guid id, int steps, int sampleCount, IReadOnlyDictionary<string, double> metrics, string resultPath, string resultSha256, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var json = JsonSerializer.Serialize(metrics);
        var now = DateTimeOffset.UtcNow;
        await db.TrainingJobs
            .Where(j => j.Id == id && j.State == JobStates.Running)
            .ExecuteUpdateAsync(
                s => s.SetProperty(j => j.State, JobStates.Succeeded)
                    .SetProperty(j => j.Step, steps)
                    .SetProperty(j => j.CheckpointStep, steps)
                    .SetProperty(j => j.SampleCount, sampleCount)
                    .SetProperty(j => j.Metrics, json)
                    .SetProperty(j => j.ResultPath, resultPath)
                    .SetProperty(j => j.ResultSha256, resultSha256)
                    .SetProperty(j => j.FinishedAt, now),
                ct);
    }

    /// <summary>Ends a running job as failed with its reason.</summary>
    public async Task FailAsync(Guid id, string error, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var text = error.Length > MaxError ? error[..MaxError] : error;
        var now = DateTimeOffset.UtcNow;
        await db.TrainingJobs
            .Where(j => j.Id == id && j.State == JobStates.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.State, JobStates.Failed).SetProperty(j => j.Error, text).SetProperty(j => j.FinishedAt, now), ct);
    }

    /// <summary>
    /// At start-up: jobs the node stopped or lost while they ran go back to the queue (ahead of newer ones,
    /// by creation time) to resume from their last checkpoint. Returns them with that step.
    /// </summary>
    public async Task<IReadOnlyList<(Guid Job, int CheckpointStep)>> RequeueInterruptedAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var interrupted = await db.TrainingJobs.Where(j => j.State == JobStates.Running).Select(j => new { j.Id, j.CheckpointStep }).ToListAsync(ct);
        if (interrupted.Count > 0)
        {
            var ids = interrupted.Select(i => i.Id).ToList();
            await db.TrainingJobs
                .Where(j => ids.Contains(j.Id))
                .ExecuteUpdateAsync(s => s.SetProperty(j => j.State, JobStates.Queued).SetProperty(j => j.Step, j => j.CheckpointStep), ct);
        }

        await tx.CommitAsync(ct);
        return [.. interrupted.Select(i => (i.Id, i.CheckpointStep))];
    }
}
