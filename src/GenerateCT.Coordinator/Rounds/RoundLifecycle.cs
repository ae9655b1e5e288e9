using System.Text.Json;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Coordinator;
using GenerateCT.Federation.Aggregation;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Coordinator.Rounds;

/// <summary>
/// Moves rounds through open → aggregating → completed | failed. A round closes when at least k
/// updates were accepted and either every participant answered or the deadline passed; with fewer
/// than k at the deadline it fails and the model stays. At close the accepted updates (on disk,
/// fsynced before they were acknowledged) are aggregated by the streaming <see cref="Aggregator"/>
/// into a new version: the base version with the round's stage replaced by base + aggregate. A round
/// found "aggregating" (a crash interrupted it) is aggregated again. Every transition is audited;
/// one round's failure is logged, audited and never stops the others or the service.
/// </summary>
internal sealed class RoundLifecycle(
    IDbContextFactory<CoordinatorDb> databases,
    AuditTrail audit,
    ModelStore store,
    IOptions<CoordinatorOptions> options,
    ILogger<RoundLifecycle> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.RoundCheckMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            await CheckAsync(stoppingToken);
            try
            {
                await Task.WhenAny(Task.Delay(interval, stoppingToken), store.RoundsChanged());
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One pass over the rounds that are open or aggregating.</summary>
    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        List<long> ids;
        try
        {
            await using var db = await databases.CreateDbContextAsync(cancellationToken);
            ids = await db.Rounds.Where(r => r.State == RoundNames.Open || r.State == RoundNames.Aggregating).OrderBy(r => r.Id).Select(r => r.Id).ToListAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "could not read the open rounds");
            return;
        }

        foreach (var id in ids)
        {
            try
            {
                await AdvanceAsync(id, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogError(e, "round {Round} could not advance", id);
            }
        }
    }

    private async Task AdvanceAsync(long id, CancellationToken cancellationToken)
    {
        TrainingRound round;
        await store.StateLock.WaitAsync(cancellationToken);
        try
        {
            await using var db = await databases.CreateDbContextAsync(cancellationToken);
            round = await db.Rounds.SingleAsync(r => r.Id == id, cancellationToken);
            if (round.State == RoundNames.Open)
            {
                var updates = await db.RoundUpdates.Where(u => u.RoundId == id).ToListAsync(cancellationToken);
                int accepted = updates.Count(u => u.State == RoundNames.Accepted);
                bool allAnswered = round.Participants.All(p => updates.Any(u => u.NodeId == p && u.State != RoundNames.Receiving));
                bool deadlinePassed = DateTimeOffset.UtcNow >= round.Deadline;
                if (accepted >= round.MinNodes && (allAnswered || deadlinePassed))
                {
                    round.State = RoundNames.Aggregating;
                    await db.SaveChangesAsync(cancellationToken);
                    await AuditAsync("round:close", "success", new { round = id, accepted, allAnswered, deadlinePassed });
                }
                else if (deadlinePassed)
                {
                    round.State = RoundNames.Failed;
                    round.FailureReason = $"{accepted} of the {round.MinNodes} updates needed arrived by the deadline";
                    round.ClosedAt = DateTimeOffset.UtcNow;
                    await db.SaveChangesAsync(cancellationToken);
                    await AuditAsync("round:fail", "failure", new { round = id, accepted, k = round.MinNodes, reason = round.FailureReason });
                    store.SignalRoundsChanged();
                    return;
                }
                else
                {
                    return;
                }
            }

            if (round.State != RoundNames.Aggregating)
            {
                return;
            }
        }
        finally
        {
            store.StateLock.Release();
        }

        try
        {
            await AggregateAsync(round, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not DbUpdateException and not Npgsql.NpgsqlException)
        {
            // A damaged base or update cannot aggregate however often it is tried: the round fails, the model stays.
            await using var db = await databases.CreateDbContextAsync(cancellationToken);
            var failed = await db.Rounds.SingleAsync(r => r.Id == round.Id, cancellationToken);
            failed.State = RoundNames.Failed;
            failed.FailureReason = Truncate($"aggregation failed: {e.Message}", 512);
            failed.ClosedAt = DateTimeOffset.UtcNow;
            await db.SaveChangesAsync(cancellationToken);
            await AuditAsync("round:fail", "failure", new { round = round.Id, reason = failed.FailureReason });
            store.SignalRoundsChanged();
            throw;
        }
    }

    private async Task AggregateAsync(TrainingRound round, CancellationToken cancellationToken)
    {
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var updates = await db.RoundUpdates.Where(u => u.RoundId == round.Id && u.State == RoundNames.Accepted).OrderBy(u => u.NodeId).ToListAsync(cancellationToken);
        var baseVersion = await db.ModelVersions.Include(v => v.Weights).SingleAsync(v => v.Id == round.BaseModelVersion, cancellationToken);
        var baseWeights = baseVersion.Weights.Single(w => w.Stage == round.Stage);
        var config = RoundNames.Config(round);
        var started = DateTimeOffset.UtcNow;

        var aggregator = new Aggregator(config);
        foreach (var update in updates)
        {
            await aggregator.AddAsync(update.SpoolPath, update.SampleCount, cancellationToken);
        }

        var stateRecord = await db.ServerOptimizerStates.SingleOrDefaultAsync(s => s.Stage == round.Stage, cancellationToken);
        string? nextState = null;
        if (config.HasServerOptimizer)
        {
            nextState = store.OptimizerStatePath(round.Stage, round.Id);
            Directory.CreateDirectory(Path.GetDirectoryName(nextState)!);
        }

        var weights = await aggregator.FinishAsync(store.WeightsPath(baseWeights.Sha256), config.HasServerOptimizer ? stateRecord?.Path : null, nextState, cancellationToken);
        var (sha, bytes, tensors) = await store.StoreAsync(weights, cancellationToken);

        // The new version, the round's result and the optimizer state it used, in one transaction.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var version = new ModelVersion
        {
            ParentId = baseVersion.Id,
            Label = $"round {round.Id} ({round.Stage}, {round.Strategy}, {updates.Count} nodes)",
            FromRound = round.Id,
            CreatedBy = "coordinator",
            CreatedAt = DateTimeOffset.UtcNow,
            Weights = [.. baseVersion.Weights.Select(w => w.Stage == round.Stage
                ? new ModelWeights { Stage = w.Stage, Sha256 = sha, ByteCount = bytes, TensorCount = tensors }
                : new ModelWeights { Stage = w.Stage, Sha256 = w.Sha256, ByteCount = w.ByteCount, TensorCount = w.TensorCount })],
        };
        db.ModelVersions.Add(version);
        await db.SaveChangesAsync(cancellationToken);
        var row = await db.Rounds.SingleAsync(r => r.Id == round.Id, cancellationToken);
        row.State = RoundNames.Completed;
        row.ResultVersion = version.Id;
        row.ClosedAt = DateTimeOffset.UtcNow;
        if (nextState is not null)
        {
            if (stateRecord is null)
            {
                db.ServerOptimizerStates.Add(new ServerOptimizerRecord { Stage = round.Stage, Path = nextState, RoundId = round.Id, UpdatedAt = DateTimeOffset.UtcNow });
            }
            else
            {
                stateRecord.Path = nextState;
                stateRecord.RoundId = round.Id;
                stateRecord.UpdatedAt = DateTimeOffset.UtcNow;
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await AuditAsync("round:complete", "success", new
        {
            round = round.Id,
            stage = round.Stage,
            strategy = round.Strategy,
            baseVersion = baseVersion.Id,
            version = version.Id,
            sha256 = sha,
            updates = updates.Select(u => new { node = u.NodeId, samples = u.SampleCount, sha256 = u.UpdateSha256 }),
            seconds = (DateTimeOffset.UtcNow - started).TotalSeconds,
        });
        store.SignalRoundsChanged();
    }

    private Task AuditAsync(string action, string outcome, object detail) =>
        audit.AppendAsync(new AuditEntry("coordinator", action, outcome, JsonSerializer.Serialize(detail)), CancellationToken.None);

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
