using System.Text.Json;
using GenerateCT.Admin.V1;
using GenerateCT.Data.Node;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Training;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Security;
using GenerateCT.Node.Training;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;

namespace GenerateCT.Node.Services;

/// <summary>admin.proto's training methods: the training set's counts, stage approvals, local fine-tuning jobs.</summary>
internal sealed partial class NodeAdminService
{
    public const string StartTrainingAction = "training:start";

    /// <summary>Counts per finding and per stage; never a key, a prompt or report text.</summary>
    [Authorize(Policy = NodePolicies.ReadTraining)]
    public override async Task<Admin.V1.TrainingSetSummary> GetTrainingSet(GetTrainingSetRequest request, ServerCallContext context)
    {
        var summary = await trainingSet.SummarizeAsync(context.CancellationToken);
        var response = new Admin.V1.TrainingSetSummary
        {
            Volumes = summary.Volumes,
            WithReport = summary.WithReport,
            WithoutReport = summary.WithoutReport,
        };
        response.Findings.AddRange(summary.Findings.Select(f => new FindingCount { Finding = f.Key, Volumes = f.Value }));
        response.Stages.AddRange(ModelStage.All.Select(s => new StageSamples { Stage = s.Name, Volumes = summary.SamplesFor(s) }));
        CallAuditDetail.Add(context, "volumes", summary.Volumes);
        return response;
    }

    [Authorize(Policy = NodePolicies.ReadTraining)]
    public override async Task<ListStageApprovalsResponse> ListStageApprovals(ListStageApprovalsRequest request, ServerCallContext context)
    {
        var response = new ListStageApprovalsResponse();
        response.Stages.AddRange((await approvals.ListAsync(context.CancellationToken)).Select(ToMessage));
        return response;
    }

    [Authorize(Policy = NodePolicies.Steward)]
    public override Task<Admin.V1.StageApproval> ApproveStage(StageApprovalRequest request, ServerCallContext context) =>
        SetApprovalAsync(request, approved: true, context);

    [Authorize(Policy = NodePolicies.Steward)]
    public override Task<Admin.V1.StageApproval> WithdrawStage(StageApprovalRequest request, ServerCallContext context) =>
        SetApprovalAsync(request, approved: false, context);

    private async Task<Admin.V1.StageApproval> SetApprovalAsync(StageApprovalRequest request, bool approved, ServerCallContext context)
    {
        var stage = StageOf(request.Stage);
        CallAuditDetail.Add(context, "stage", stage.Name);
        var steward = CallerIdentity.Name(context.GetHttpContext().User);
        return ToMessage(await approvals.SetAsync(stage, approved, steward, context.CancellationToken));
    }

    /// <summary>Queues a fine-tuning job of one stage from the active bundle; the worker runs it.</summary>
    [Authorize(Policy = NodePolicies.Administer)]
    public override async Task<TrainingJobInfo> StartTraining(StartTrainingRequest request, ServerCallContext context)
    {
        var stage = StageOf(request.Stage);
        var limits = trainingOptions.Value;
        if (request.Steps < 1 || request.Steps > limits.MaxSteps)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"steps must be 1 to {limits.MaxSteps} (Node:Training:MaxSteps), not {request.Steps}"));
        }

        if (!double.IsFinite(request.LearningRate) || request.LearningRate <= 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"learning_rate must be a positive number, not {request.LearningRate}"));
        }

        if (request.BatchSize < 1 || request.BatchSize > limits.MaxBatchSize)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"batch_size must be 1 to {limits.MaxBatchSize} (Node:Training:MaxBatchSize), not {request.BatchSize}"));
        }

        if (request.CheckpointEvery < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"checkpoint_every must be 0 (the node's default) or positive, not {request.CheckpointEvery}"));
        }

        var generation = generationOptions.Value;
        if (!generation.IsConfigured)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, GenerationModels.NotConfigured().Message));
        }

        string baseModel;
        try
        {
            baseModel = GenerationModels.VersionOf(ModelBundle.ReadManifest(generation.Bundle!));
        }
        catch (ModelBundleException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"the node's bundle cannot be trained from: {e.Message}"));
        }

        var summary = await trainingSet.SummarizeAsync(context.CancellationToken);
        if (summary.SamplesFor(stage) == 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, stage == ModelStage.CtVit
                ? "the training set holds no assembled volume; push CT series to the node first"
                : $"{stage.DisplayName} trains on prompts and no volume of the training set has a report yet ({summary.Volumes} volume(s) without); send the reports first"));
        }

        var user = CallerIdentity.Name(context.GetHttpContext().User);
        var job = new TrainingJob
        {
            Id = Guid.NewGuid(),
            Origin = TrainingOrigins.Local,
            Stage = stage.Name,
            State = JobStates.Queued,
            RequestedBy = user.Length > 256 ? user[..256] : user,
            BaseModel = baseModel,
            Steps = request.Steps,
            LearningRate = request.LearningRate,
            BatchSize = request.BatchSize,
            Seed = request.Seed,
            CheckpointEvery = request.CheckpointEvery > 0 ? request.CheckpointEvery : limits.CheckpointEvery,
            CreatedAt = DateTimeOffset.UtcNow,
        };
        await trainingJobs.CreateAsync(job, context.CancellationToken);
        CallAuditDetail.Add(context, "job", job.Id.ToString("N"));
        await audit.RecordAsync(
            user,
            StartTrainingAction,
            "success",
            JsonSerializer.Serialize(new
            {
                job = job.Id.ToString("N"),
                stage = job.Stage,
                origin = job.Origin,
                steps = job.Steps,
                learningRate = job.LearningRate,
                batchSize = job.BatchSize,
                checkpointEvery = job.CheckpointEvery,
                baseModel,
                samples = summary.SamplesFor(stage),
            }),
            CancellationToken.None);
        trainingWorker.Wake();
        return ToMessage(job);
    }

    [Authorize(Policy = NodePolicies.ReadTraining)]
    public override async Task<TrainingJobInfo> GetTrainingJob(GetTrainingJobRequest request, ServerCallContext context)
    {
        if (!Guid.TryParseExact(request.JobId, "N", out var id))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{request.JobId}' is not a training job id (32 hex digits, as StartTraining returns)"));
        }

        var job = await trainingJobs.FindAsync(id, context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"no training job {request.JobId}"));
        return ToMessage(job);
    }

    [Authorize(Policy = NodePolicies.ReadTraining)]
    public override async Task<ListTrainingJobsResponse> ListTrainingJobs(ListTrainingJobsRequest request, ServerCallContext context)
    {
        var response = new ListTrainingJobsResponse();
        response.Jobs.AddRange((await trainingJobs.ListAsync(PageSize(request.Limit), context.CancellationToken)).Select(ToMessage));
        return response;
    }

    private static ModelStage StageOf(string name) =>
        ModelStage.Find(name) ?? throw new RpcException(new Status(
            StatusCode.InvalidArgument,
            $"'{name}' is not a model stage; use {string.Join(", ", ModelStage.All.Select(s => s.Name))}"));

    private static Admin.V1.StageApproval ToMessage(StageApprovalState s) => new()
    {
        Stage = s.Stage.Name,
        Approved = s.Approved,
        ChangedBy = s.ChangedBy ?? "",
        ChangedUnixMs = s.ChangedAt?.ToUnixTimeMilliseconds() ?? 0,
    };

    /// <summary>The row, with the worker's live step and loss while the job runs.</summary>
    private TrainingJobInfo ToMessage(TrainingJob job)
    {
        var metrics = job.Metrics is null ? [] : JsonSerializer.Deserialize<Dictionary<string, double>>(job.Metrics) ?? [];
        var info = new TrainingJobInfo
        {
            JobId = job.Id.ToString("N"),
            Stage = job.Stage,
            Origin = job.Origin,
            State = job.State,
            Steps = job.Steps,
            Step = job.Step,
            CheckpointStep = job.CheckpointStep,
            LearningRate = job.LearningRate,
            BatchSize = job.BatchSize,
            BaseModel = job.BaseModel,
            SampleCount = job.SampleCount ?? 0,
            Loss = metrics.GetValueOrDefault("loss"),
            ResultSha256 = job.ResultSha256 ?? "",
            Error = job.Error ?? "",
            RequestedBy = job.RequestedBy,
            CreatedUnixMs = job.CreatedAt.ToUnixTimeMilliseconds(),
            FinishedUnixMs = job.FinishedAt?.ToUnixTimeMilliseconds() ?? 0,
        };
        info.Metrics.Add(metrics);
        if (job.State == JobStates.Running && trainingProgress.Latest is { } live && live.Job == job.Id && live.Step > job.Step)
        {
            info.Step = live.Step;
            info.Loss = live.Loss;
        }

        return info;
    }
}
