using System.Security.Cryptography;
using GenerateCT.Data.Node;
using GenerateCT.Generation.V1;
using GenerateCT.Model.Pipeline;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Security;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Services;

/// <summary>
/// generation.proto's Generation service: a researcher queues a cohort, watches it, and downloads its
/// outputs. Jobs belong to the token's subject: anyone else is told NotFound, as for a job that does
/// not exist. Every call is one audit row (<see cref="CallAuditInterceptor"/>) naming its job and output.
/// </summary>
internal sealed class GenerationService(
    IOptions<GenerationOptions> generationOptions,
    GenerationModels models,
    GenerationJobStore store,
    GenerationWorker worker,
    JobProgressHub hub,
    JobOutputFiles files) : Generation.V1.Generation.GenerationBase
{
    /// <summary>Longest prompt accepted (characters) before the tokenizer counts its tokens.</summary>
    private const int MaxPromptLength = 2048;

    /// <summary>Download chunk size: small enough for gRPC's 4 MB message limit with room, large enough to stream fast.</summary>
    private const int ChunkSize = 64 * 1024;

    private const int DefaultListLimit = 50;
    private const int MaxListLimit = 500;

    [Authorize(Policy = NodePolicies.Generate)]
    [ExpensiveCall]
    public override async Task<CohortAccepted> SubmitCohort(CohortRequest request, ServerCallContext context)
    {
        CallAuditDetail.Add(context, "count", request.Count);
        CallAuditDetail.Add(context, "seed", request.Seed);
        CheckShape(request);
        var formats = Formats(request);
        // Only once their number and lengths are bounded do the prompts (the researcher's words) go into the audit row.
        CallAuditDetail.Add(context, "prompts", request.Prompts.ToArray());
        var volumes = request.Prompts.Count * request.Count;
        if (!models.IsConfigured)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, GenerationModels.NotConfigured().Message));
        }

        GenerationLease lease;
        try
        {
            lease = await models.AcquireAsync(context.CancellationToken);
        }
        catch (GenerationUnavailableException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }

        // Held while the request is checked: an activation meanwhile cannot dispose the pipeline under it.
        using var held = lease;
        var pipeline = lease.Pipeline;
        if (request.ModelVersion.Length > 0 && request.ModelVersion != lease.Version)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"model version '{request.ModelVersion}' is not on this node; its active bundle is '{lease.Version}' (leave model_version empty to use it)"));
        }

        var condScale = request.CondScale == 0 ? pipeline.Config.MaskGit.CondScale : request.CondScale;

        try
        {
            pipeline.ValidatePrompts(request.Prompts);
        }
        catch (InvalidPromptException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }

        var job = new GenerationJob
        {
            Id = Guid.NewGuid(),
            RequestedBy = CallerIdentity.Key(context.GetHttpContext().User),
            State = JobStates.Queued,
            Prompts = [.. request.Prompts],
            Count = request.Count,
            Seed = request.Seed,
            Formats = [.. formats],
            CondScale = condScale,
            CreatedAt = DateTimeOffset.UtcNow,
        };
        await store.CreateAsync(job, context.CancellationToken);
        CallAuditDetail.Add(context, "job", job.Id.ToString("N"));
        CallAuditDetail.Add(context, "formats", formats);
        worker.Wake();
        return new CohortAccepted { JobId = job.Id.ToString("N"), Volumes = volumes };
    }

    [Authorize(Policy = NodePolicies.Generate)]
    public override async Task WatchJob(JobRef request, IServerStreamWriter<JobProgress> responseStream, ServerCallContext context)
    {
        var id = JobId(request.JobId, context);
        var ct = context.CancellationToken;
        await OwnJobAsync(id, context);
        // Subscribe before reading the state: an end published after the read reaches the subscription.
        using var watch = hub.Subscribe(id);
        var job = await OwnJobAsync(id, context);
        if (job.State != JobStates.Running)
        {
            await responseStream.WriteAsync(GenerationContract.ToProgress(job), ct);
            if (JobStates.IsTerminal(job.State))
            {
                return;
            }
        }

        await foreach (var progress in watch.Messages.ReadAllAsync(ct))
        {
            await responseStream.WriteAsync(progress, ct);
            if (JobProgressHub.IsTerminal(progress.State))
            {
                return;
            }
        }
    }

    [Authorize(Policy = NodePolicies.Generate)]
    public override async Task<JobStatus> GetJob(JobRef request, ServerCallContext context) =>
        GenerationContract.ToStatus(await OwnJobAsync(JobId(request.JobId, context), context));

    [Authorize(Policy = NodePolicies.Generate)]
    public override async Task<ListJobsResponse> ListJobs(ListJobsRequest request, ServerCallContext context)
    {
        var limit = request.Limit <= 0 ? DefaultListLimit : Math.Min(request.Limit, MaxListLimit);
        var jobs = await store.ListAsync(CallerIdentity.Key(context.GetHttpContext().User), limit, context.CancellationToken);
        CallAuditDetail.Add(context, "jobs", jobs.Count);
        var response = new ListJobsResponse();
        response.Jobs.AddRange(jobs.Select(GenerationContract.ToStatus));
        return response;
    }

    /// <summary>Cancels a queued or running job and answers once it has ended (or the call's deadline comes first).</summary>
    [Authorize(Policy = NodePolicies.Generate)]
    public override async Task<JobStatus> CancelJob(JobRef request, ServerCallContext context)
    {
        var id = JobId(request.JobId, context);
        var ct = context.CancellationToken;
        var job = await OwnJobAsync(id, context);
        if (JobStates.IsTerminal(job.State))
        {
            return GenerationContract.ToStatus(job);
        }

        using var watch = hub.Subscribe(id);
        if (await store.CancelQueuedAsync(id, ct))
        {
            hub.Publish(GenerationContract.ToProgress(await OwnJobAsync(id, context)));
        }
        else
        {
            worker.Cancel(id);
            job = await OwnJobAsync(id, context);
            if (!JobStates.IsTerminal(job.State))
            {
                await foreach (var progress in watch.Messages.ReadAllAsync(ct))
                {
                    if (JobProgressHub.IsTerminal(progress.State))
                    {
                        break;
                    }
                }
            }
        }

        return GenerationContract.ToStatus(await OwnJobAsync(id, context));
    }

    /// <summary>Streams one output in 64 KiB chunks; the last chunk is sent only once the file's SHA-256 matched its row.</summary>
    [Authorize(Policy = NodePolicies.Generate)]
    [ExpensiveCall]
    public override async Task DownloadOutput(DownloadRequest request, IServerStreamWriter<FileChunk> responseStream, ServerCallContext context)
    {
        var id = JobId(request.JobId, context);
        var ct = context.CancellationToken;
        var job = await OwnJobAsync(id, context);
        var output = Guid.TryParseExact(request.OutputId, "N", out var outputId) ? job.Outputs.SingleOrDefault(o => o.Id == outputId) : null;
        CallAuditDetail.Add(context, "output", output is null ? "(no such output)" : outputId.ToString("N"));
        if (output is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"job {request.JobId} has no output '{Shorten(request.OutputId)}' (GetJob lists them)"));
        }

        CallAuditDetail.Add(context, "file", output.FileName);
        FileStream stream;
        try
        {
            stream = files.OpenRead(id, output.FileName);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RpcException(new Status(StatusCode.DataLoss, $"output {output.FileName} of job {request.JobId} is missing from the node's disk; tell the node's administrator"));
        }

        await using (stream)
        {
            if (stream.Length != output.SizeBytes)
            {
                throw new RpcException(new Status(StatusCode.DataLoss, $"output {output.FileName} is {stream.Length} bytes on disk but {output.SizeBytes} were recorded; tell the node's administrator"));
            }

            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[ChunkSize];
            long offset = 0;
            do
            {
                var want = (int)Math.Min(ChunkSize, output.SizeBytes - offset);
                var read = await stream.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: true, ct);
                sha.AppendData(buffer, 0, read);
                var last = offset + read == output.SizeBytes;
                if (last && Convert.ToHexStringLower(sha.GetHashAndReset()) != output.Sha256)
                {
                    throw new RpcException(new Status(StatusCode.DataLoss, $"output {output.FileName} no longer matches its recorded SHA-256; tell the node's administrator"));
                }

                await responseStream.WriteAsync(new FileChunk { FileName = output.FileName, Offset = offset, Data = Google.Protobuf.ByteString.CopyFrom(buffer, 0, read), Last = last }, ct);
                offset += read;
            }
            while (offset < output.SizeBytes);
        }

        CallAuditDetail.Add(context, "bytes", output.SizeBytes);
    }

    private static void CheckShape(CohortRequest request)
    {
        if (request.Prompts.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "a cohort needs at least one prompt"));
        }

        for (var i = 0; i < request.Prompts.Count; i++)
        {
            var prompt = request.Prompts[i];
            if (string.IsNullOrWhiteSpace(prompt))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"prompt {i} is empty"));
            }

            if (prompt.Length > MaxPromptLength)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"prompt {i} is {prompt.Length} characters long; at most {MaxPromptLength} are accepted"));
            }

            if (prompt.Any(c => char.IsControl(c) && c is not '\n' and not '\t'))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"prompt {i} is not text (it contains control characters)"));
            }
        }

        if (request.Count < 1)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"count must be at least 1, not {request.Count}"));
        }

        if (!double.IsFinite(request.CondScale) || request.CondScale < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"cond_scale must be a finite number ≥ 0 (0 = the model default), not {request.CondScale}"));
        }
    }

    /// <summary>The requested formats in the writer's names; none requested = all three.</summary>
    private IReadOnlyList<string> Formats(CohortRequest request)
    {
        var volumes = (long)request.Prompts.Count * request.Count;
        var max = generationOptions.Value.MaxVolumesPerJob;
        if (volumes > max)
        {
            throw new RpcException(new Status(
                StatusCode.InvalidArgument,
                $"this cohort asks for {volumes} volumes (prompts × count) but a job may generate at most {max} on this node; split it into several jobs"));
        }

        if (request.Formats.Count == 0)
        {
            return Dicom.Imaging.SyntheticVolumeWriter.Formats;
        }

        var formats = new List<string>();
        foreach (var f in request.Formats)
        {
            var name = GenerationContract.FromProto(f)
                ?? throw new RpcException(new Status(StatusCode.InvalidArgument, $"output format {f} is not one of NIFTI, DICOM, PNG"));
            if (!formats.Contains(name))
            {
                formats.Add(name);
            }
        }

        return formats;
    }

    private static Guid JobId(string value, ServerCallContext context)
    {
        if (!Guid.TryParseExact(value, "N", out var id))
        {
            // The client's text stays out of the audit row (it could be anything, of any length).
            CallAuditDetail.Add(context, "job", "(not a job id)");
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"job_id '{Shorten(value)}' is not a job id (32 hex digits, as SubmitCohort returned it)"));
        }

        CallAuditDetail.Add(context, "job", id.ToString("N"));
        return id;
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";

    /// <summary>The caller's own job; NotFound for a job that does not exist and for someone else's alike.</summary>
    private async Task<GenerationJob> OwnJobAsync(Guid id, ServerCallContext context) =>
        await store.FindAsync(id, CallerIdentity.Key(context.GetHttpContext().User), context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"no job {id:N} of yours on this node"));
}
