using GenerateCT.Data.Node;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Jobs;

/// <summary>The one claim step of the node's job tables (generation and training jobs).</summary>
internal static class JobQueue
{
    /// <summary>
    /// Moves the oldest queued job of <paramref name="jobs"/> to running, only if it is still queued (a
    /// conditional update, so a concurrent cancel or claim wins cleanly), and returns it; null when none is
    /// queued. A job that ran before (resumed after a restart) keeps its first start time.
    /// </summary>
    public static async Task<TJob?> ClaimNextAsync<TJob>(DbSet<TJob> jobs, CancellationToken ct)
        where TJob : class, IQueuedJob
    {
        while (true)
        {
            var next = await jobs.AsNoTracking()
                .Where(j => j.State == JobStates.Queued)
                .OrderBy(j => j.CreatedAt).ThenBy(j => j.Id)
                .FirstOrDefaultAsync(ct);
            if (next is null)
            {
                return null;
            }

            var started = next.StartedAt ?? DateTimeOffset.UtcNow;
            var claimed = await jobs
                .Where(j => j.Id == next.Id && j.State == JobStates.Queued)
                .ExecuteUpdateAsync(s => s.SetProperty(j => j.State, JobStates.Running).SetProperty(j => j.StartedAt, started), ct);
            if (claimed == 1)
            {
                next.State = JobStates.Running;
                next.StartedAt = started;
                return next;
            }

            // Cancelled or claimed between the read and the update: take the next one.
        }
    }
}
