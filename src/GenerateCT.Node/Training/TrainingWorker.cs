using System.Data.Common;
using System.Text.Json;
using System.Threading.Channels;
using GenerateCT.Data.Node;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Node.Training;

/// <summary>
/// Runs queued training jobs one at a time, oldest first, as <see cref="GenerationWorker"/> runs cohorts: a
/// job that fails (bad input, diverged loss, unreadable volume) is failed with its reason and audited, and the
/// worker takes the next. A job the node stops while it runs stays "running"; at the next start it goes back
/// to the queue and resumes from its last checkpoint.
/// </summary>
internal sealed class TrainingWorker(
    TrainingJobStore store,
    StageFineTuning fineTuning,
    TrainingFiles files,
    TrainingProgress progress,
    INodeAudit audit,
    ILogger<TrainingWorker> log) : BackgroundService
{
    public const string FinishAction = "training:finish";

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Tells the worker a job was queued.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var interrupted = await store.RequeueInterruptedAsync(cancellationToken);
        foreach (var (job, step) in interrupted)
        {
            log.LogWarning("training job {Job} was interrupted; it resumes from step {Step}", job, step);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var job = await store.ClaimNextAsync(stoppingToken);
                    if (job is null)
                    {
                        await _wake.Reader.WaitToReadAsync(stoppingToken);
                        _wake.Reader.TryRead(out _);
                        continue;
                    }

                    await RunAsync(job, stoppingToken);
                }
                catch (Exception e) when (e is DbException or DbUpdateException)
                {
                    // The queue is in the database; a job caught mid-way stays "running" and resumes at the next start.
                    log.LogError(e, "training queue: database error; retrying in {Seconds} s", RetryDelay.TotalSeconds);
                    await Task.Delay(RetryDelay, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: a job in progress keeps its checkpoint and resumes at the next start.
        }
    }

    private async Task RunAsync(TrainingJob job, CancellationToken stoppingToken)
    {
        var id = job.Id.ToString("N");
        try
        {
            var result = await fineTuning.RunAsync(job, stoppingToken);
            await store.SucceedAsync(job.Id, result.Steps, result.SampleCount, result.Metrics, result.ResultPath, result.ResultSha256, CancellationToken.None);
            files.RemoveWorkFiles(job.Id);
            await audit.RecordAsync(
                "system",
                FinishAction,
                "success",
                JsonSerializer.Serialize(new { job = id, stage = job.Stage, origin = job.Origin, steps = result.Steps, samples = result.SampleCount, metrics = result.Metrics, sha256 = result.ResultSha256 }),
                CancellationToken.None);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            log.LogInformation("training job {Job} interrupted by the node stopping; it resumes at the next start", id);
            throw;
        }
        catch (Exception e) when (e is not (DbException or DbUpdateException))
        {
            // One job's failure must not stop the queue: its reason goes to the row, the audit trail and the log.
            log.LogError(e, "training job {Job} failed", id);
            var reason = e is TrainingJobException ? e.Message : $"{job.Stage} training failed: {e.Message}";
            await store.FailAsync(job.Id, reason, CancellationToken.None);
            files.RemoveWorkFiles(job.Id);
            await audit.RecordAsync("system", FinishAction, "failure", JsonSerializer.Serialize(new { job = id, stage = job.Stage, origin = job.Origin, error = reason }), CancellationToken.None);
        }
        finally
        {
            progress.Clear(job.Id);
        }
    }
}
