using GenerateCT.Generation.V1;
using GenerateCT.Node.Security;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;

namespace GenerateCT.Node.Services;

/// <summary>
/// generation.proto's Generation service. Requests are authorized, audited, rate limited and
/// validated; running them needs a generation model bundle, which this node does not have yet, so
/// they are answered FailedPrecondition rather than with anything invented.
/// </summary>
internal sealed class GenerationService : Generation.V1.Generation.GenerationBase
{
    /// <summary>Longest prompt accepted (characters); the text encoder truncates far below this anyway.</summary>
    private const int MaxPromptLength = 2048;

    internal static RpcException NoModels() =>
        new(new Status(StatusCode.FailedPrecondition, "generation models are not installed on this node yet"));

    [Authorize(Policy = NodePolicies.Generate)]
    [ExpensiveCall]
    public override Task<CohortAccepted> SubmitCohort(CohortRequest request, ServerCallContext context)
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

        throw NoModels();
    }

    [Authorize(Policy = NodePolicies.Generate)]
    public override Task WatchJob(JobRef request, IServerStreamWriter<JobProgress> responseStream, ServerCallContext context) => throw NoModels();

    [Authorize(Policy = NodePolicies.Generate)]
    public override Task<JobStatus> GetJob(JobRef request, ServerCallContext context) => throw NoModels();

    [Authorize(Policy = NodePolicies.Generate)]
    public override Task<ListJobsResponse> ListJobs(ListJobsRequest request, ServerCallContext context) => throw NoModels();

    [Authorize(Policy = NodePolicies.Generate)]
    public override Task<JobStatus> CancelJob(JobRef request, ServerCallContext context) => throw NoModels();

    [Authorize(Policy = NodePolicies.Generate)]
    [ExpensiveCall]
    public override Task DownloadOutput(DownloadRequest request, IServerStreamWriter<FileChunk> responseStream, ServerCallContext context) => throw NoModels();
}
