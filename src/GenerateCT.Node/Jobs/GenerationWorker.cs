using System.Data.Common;
using System.Text.Json;
using System.Threading.Channels;
using GenerateCT.Data.Node;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Generation.V1;
using GenerateCT.Model.Pipeline;
using GenerateCT.Node.Audit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Node.Jobs;

/// <summary>
/// Runs queued generation jobs one at a time, oldest first (a job keeps the GPU, or every core, busy).
/// A job's volumes are generated with the pipeline's per-volume seeds, then each requested format is
/// written durably and only then recorded as an output row. Cancellation (CancelJob) stops the pipeline
/// at its next step; a job that does not succeed has its files and rows removed. At start, jobs a crash
/// left running are failed and their files removed.
/// </summary>
internal sealed class GenerationWorker(
    GenerationJobStore store,
    GenerationModels models,
    JobOutputFiles files,
    JobProgressHub hub,
    INodeAudit audit,
    ILogger<GenerationWorker> log) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly object _lock = new();
    private readonly HashSet<Guid> _cancelRequested = [];
    private RunningJob? _running;

    /// <summary>Tells the worker a job was queued.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    /// <summary>
    /// Asks the running job <paramref name="job"/> to stop. If the worker has claimed it but not yet begun,
    /// the request is remembered and honoured as it begins.
    /// </summary>
    public void Cancel(Guid job)
    {
        lock (_lock)
        {
            if (_running is { } running && running.Job == job)
            {
                running.Cancellation.Cancel();
            }
            else
            {
                _cancelRequested.Add(job);
            }
        }
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var (failed, keep) = await store.RecoverAsync(cancellationToken);
        var swept = files.Sweep(keep);
        foreach (var job in failed)
        {
            await audit.RecordAsync("system", "generation:job", "failure", JsonSerializer.Serialize(new { job = job.ToString("N"), state = JobStates.Failed, error = "node restarted" }), cancellationToken);
        }

        if (failed.Count > 0 || swept > 0)
        {
            log.LogWarning("generation recovery: {Failed} interrupted job(s) failed, {Swept} partial output director(ies) removed", failed.Count, swept);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (models.IsConfigured)
        {
            _ = WarmUpAsync(stoppingToken);
        }

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
                catch (Exception e) when (e is DbException or DbUpdateException or IOException)
                {
                    // Database or disk trouble: the queue stays in the database; try again shortly. A job
                    // caught mid-way stays "running" and is failed by the next start's recovery.
                    log.LogError(e, "generation queue: infrastructure error; retrying in {Seconds} s", RetryDelay.TotalSeconds);
                    await Task.Delay(RetryDelay, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping; a job in progress has been ended by RunAsync.
        }
    }

    private async Task WarmUpAsync(CancellationToken ct)
    {
        try
        {
            await models.GetAsync(ct);
        }
        catch (GenerationUnavailableException e)
        {
            log.LogWarning("generation bundle not usable: {Reason}", e.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(GenerationJob job, CancellationToken stoppingToken)
    {
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        lock (_lock)
        {
            _running = new RunningJob(job.Id, cancellation);
            if (_cancelRequested.Remove(job.Id))
            {
                cancellation.Cancel();
            }
        }

        var id = job.Id.ToString("N");
        var volumes = job.Prompts.Count * job.Count;
        var outputs = 0;
        string state;
        string? error = null;
        try
        {
            var ct = cancellation.Token;
            // The job holds the bundle it starts with: activating another one meanwhile does not change its volumes.
            using var lease = await models.AcquireAsync(ct);
            var pipeline = lease.Pipeline;
            var reporter = new PipelineProgress(hub, id);
            var generated = await pipeline.GenerateAsync(new GenerationRequest(job.Prompts, job.Seed, job.Count) { CondScale = job.CondScale }, reporter, ct);
            var total = generated.Count * job.Formats.Count;
            foreach (var v in generated)
            {
                foreach (var format in job.Formats)
                {
                    ct.ThrowIfCancellationRequested();
                    var written = await files.WriteAsync(job.Id, format, new SyntheticVolume(v.Volume, v.Prompt, v.Seed, v.Index), ct);
                    await store.AddOutputAsync(
                        new GenerationOutput
                        {
                            Id = Guid.NewGuid(),
                            JobId = job.Id,
                            PromptIndex = v.Index / job.Count,
                            VolumeIndex = v.Index,
                            Format = format,
                            FileName = written.FileName,
                            SizeBytes = written.SizeBytes,
                            Sha256 = written.Sha256,
                        },
                        ct);
                    outputs++;
                    hub.Publish(new JobProgress { JobId = id, State = JobState.Running, Stage = "write", Step = outputs, TotalSteps = total, VolumeIndex = v.Index, Volumes = volumes, Message = written.FileName });
                }
            }

            state = JobStates.Succeeded;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            (state, error) = stoppingToken.IsCancellationRequested
                ? (JobStates.Failed, "the node stopped while the job ran; submit it again")
                : (JobStates.Cancelled, "cancelled by the requester");
        }
        catch (GenerationUnavailableException e)
        {
            (state, error) = (JobStates.Failed, e.Message);
        }
        catch (Exception e)
        {
            // One job's failure must not stop the queue; the reason is kept for the researcher and the log.
            log.LogError(e, "generation job {Job} failed", id);
            (state, error) = (JobStates.Failed, $"generation failed: {e.Message}");
        }

        lock (_lock)
        {
            _running = null;
        }

        if (state != JobStates.Succeeded)
        {
            // Files first: if the node dies before the row is updated, the job is still "running" and the
            // start-up recovery removes whatever is left.
            files.Remove(job.Id);
            outputs = 0;
        }

        await store.FinishAsync(job.Id, state, error, CancellationToken.None);
        await audit.RecordAsync(
            "system",
            "generation:job",
            state == JobStates.Succeeded ? "success" : "failure",
            JsonSerializer.Serialize(new { job = id, state, volumes, outputs, error }),
            CancellationToken.None);
        hub.Publish(new JobProgress { JobId = id, State = GenerationContract.StateOf(state), Stage = "done", Volumes = volumes, Message = error ?? $"{outputs} output file(s)" });
    }

    private sealed record RunningJob(Guid Job, CancellationTokenSource Cancellation);

    /// <summary>Pipeline progress as JobProgress messages (called on the generation thread).</summary>
    private sealed class PipelineProgress(JobProgressHub hub, string job) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress p) => hub.Publish(new JobProgress
        {
            JobId = job,
            State = JobState.Running,
            Stage = p.Stage switch
            {
                GenerationStage.Text => "text",
                GenerationStage.Tokens => "tokens",
                GenerationStage.Decode => "decode",
                _ => GenerateCT.Model.Training.ModelStage.SuperRes.Name,
            },
            Step = p.Step,
            TotalSteps = p.Steps,
            VolumeIndex = p.Volume,
            Volumes = p.Volumes,
            Message = p.Stage == GenerationStage.SuperResolution ? $"SR stage {p.SrStage + 1}" : "",
        });
    }
}
