using GenerateCT.Data.Node;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Generation.V1;

namespace GenerateCT.Node.Jobs;

/// <summary>generation.proto's messages from and to the job rows.</summary>
internal static class GenerationContract
{
    public static JobState StateOf(string state) => state switch
    {
        JobStates.Queued => JobState.Queued,
        JobStates.Running => JobState.Running,
        JobStates.Succeeded => JobState.Succeeded,
        JobStates.Failed => JobState.Failed,
        JobStates.Cancelled => JobState.Cancelled,
        _ => JobState.Unspecified,
    };

    public static OutputFormat FormatOf(string format) => format switch
    {
        SyntheticVolumeWriter.Nifti => OutputFormat.Nifti,
        SyntheticVolumeWriter.Dicom => OutputFormat.Dicom,
        SyntheticVolumeWriter.Png => OutputFormat.Png,
        _ => OutputFormat.Unspecified,
    };

    /// <summary>The writer's format name, or null for UNSPECIFIED and values this node does not know.</summary>
    public static string? FromProto(OutputFormat format) => format switch
    {
        OutputFormat.Nifti => SyntheticVolumeWriter.Nifti,
        OutputFormat.Dicom => SyntheticVolumeWriter.Dicom,
        OutputFormat.Png => SyntheticVolumeWriter.Png,
        _ => null,
    };

    public static JobStatus ToStatus(GenerationJob job)
    {
        var status = new JobStatus
        {
            JobId = job.Id.ToString("N"),
            State = StateOf(job.State),
            Error = job.Error ?? "",
            CreatedUnixMs = job.CreatedAt.ToUnixTimeMilliseconds(),
            FinishedUnixMs = job.FinishedAt?.ToUnixTimeMilliseconds() ?? 0,
        };
        status.Outputs.AddRange(job.Outputs.Select(o => new OutputFile
        {
            OutputId = o.Id.ToString("N"),
            Prompt = o.PromptIndex < job.Prompts.Count ? job.Prompts[o.PromptIndex] : "",
            Index = o.VolumeIndex,
            Format = FormatOf(o.Format),
            FileName = o.FileName,
            SizeBytes = o.SizeBytes,
            Sha256 = o.Sha256,
        }));
        return status;
    }

    /// <summary>The message a watcher of a job in <paramref name="job"/>'s state gets first (queued) or last (terminal).</summary>
    public static JobProgress ToProgress(GenerationJob job) => new()
    {
        JobId = job.Id.ToString("N"),
        State = StateOf(job.State),
        Stage = JobStates.IsTerminal(job.State) ? "done" : job.State,
        Volumes = job.Prompts.Count * job.Count,
        Message = job.Error ?? (job.State == JobStates.Succeeded ? $"{job.Outputs.Count} output file(s)" : ""),
    };
}
