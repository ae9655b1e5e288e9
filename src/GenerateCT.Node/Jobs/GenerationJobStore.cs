using GenerateCT.Data.Node;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Jobs;

/// <summary>States of a generation job as the database spells them.</summary>
internal static class JobStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string state) => state is Succeeded or Failed or Cancelled;
}

/// <summary>
/// Generation jobs and their outputs in the node database. Every state change is a conditional update
/// in a transaction (queued → running only if still queued, and so on), so the worker and CancelJob
/// cannot both win; a job that does not end in "succeeded" keeps no output rows.
/// </summary>
internal sealed class GenerationJobStore(IDbContextFactory<NodeDb> databases)
{
    /// <summary>Longest error text kept (the column's width).</summary>
    private const int MaxError = 2048;

    public async Task CreateAsync(GenerationJob job, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        db.GenerationJobs.Add(job);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>The job if it exists and belongs to <paramref name="owner"/>; null otherwise (the caller cannot tell which).</summary>
    public async Task<GenerationJob?> FindAsync(Guid id, string owner, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.GenerationJobs.AsNoTracking()
            .Include(j => j.Outputs.OrderBy(o => o.VolumeIndex).ThenBy(o => o.FileName))
            .SingleOrDefaultAsync(j => j.Id == id && j.RequestedBy == owner, ct);
    }

    /// <summary><paramref name="owner"/>'s newest jobs first.</summary>
    public async Task<IReadOnlyList<GenerationJob>> ListAsync(string owner, int limit, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.GenerationJobs.AsNoTracking()
            .Where(j => j.RequestedBy == owner)
            .OrderByDescending(j => j.CreatedAt).ThenBy(j => j.Id)
            .Take(limit)
            .Include(j => j.Outputs.OrderBy(o => o.VolumeIndex).ThenBy(o => o.FileName))
            .AsSplitQuery()
            .ToListAsync(ct);
    }

    /// <summary>Moves the oldest queued job to running and returns it; null when none is queued (<see cref="JobQueue"/>).</summary>
    public async Task<GenerationJob?> ClaimNextAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await JobQueue.ClaimNextAsync(db.GenerationJobs, ct);
    }

    /// <summary>Cancels a job that has not started; false when it is no longer queued.</summary>
    public async Task<bool> CancelQueuedAsync(Guid id, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var now = DateTimeOffset.UtcNow;
        return await db.GenerationJobs
            .Where(j => j.Id == id && j.State == JobStates.Queued)
            .ExecuteUpdateAsync(
                s => s.SetProperty(j => j.State, JobStates.Cancelled)
                    .SetProperty(j => j.Error, "cancelled by the requester before it started")
                    .SetProperty(j => j.FinishedAt, now),
                ct) == 1;
    }

    /// <summary>Records one finished, durable output file of a running job.</summary>
    public async Task AddOutputAsync(GenerationOutput output, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        db.GenerationOutputs.Add(output);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Ends a running job in <paramref name="state"/>; unless it succeeded, its output rows go in the same transaction.</summary>
    public async Task FinishAsync(Guid id, string state, string? error, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (state != JobStates.Succeeded)
        {
            await db.GenerationOutputs.Where(o => o.JobId == id).ExecuteDeleteAsync(ct);
        }

        var now = DateTimeOffset.UtcNow;
        var text = error is { Length: > MaxError } ? error[..MaxError] : error;
        await db.GenerationJobs
            .Where(j => j.Id == id && j.State == JobStates.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.State, state).SetProperty(j => j.Error, text).SetProperty(j => j.FinishedAt, now), ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// At start-up: jobs a crash left running are failed ("node restarted") and lose their output rows,
    /// in one transaction. Returns the jobs whose output directories are to be kept (queued and succeeded).
    /// </summary>
    public async Task<(IReadOnlyList<Guid> Failed, IReadOnlySet<Guid> Keep)> RecoverAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var interrupted = await db.GenerationJobs.Where(j => j.State == JobStates.Running).Select(j => j.Id).ToListAsync(ct);
        if (interrupted.Count > 0)
        {
            var now = DateTimeOffset.UtcNow;
            await db.GenerationOutputs.Where(o => interrupted.Contains(o.JobId)).ExecuteDeleteAsync(ct);
            await db.GenerationJobs
                .Where(j => interrupted.Contains(j.Id))
                .ExecuteUpdateAsync(
                    s => s.SetProperty(j => j.State, JobStates.Failed)
                        .SetProperty(j => j.Error, "node restarted while the job ran; submit it again")
                        .SetProperty(j => j.FinishedAt, now),
                    ct);
        }

        var keep = await db.GenerationJobs
            .Where(j => j.State == JobStates.Succeeded || j.State == JobStates.Queued)
            .Select(j => j.Id)
            .ToListAsync(ct);
        await tx.CommitAsync(ct);
        return (interrupted, keep.ToHashSet());
    }
}
