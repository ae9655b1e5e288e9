using System.Text.Json;
using GenerateCT.Dicom.Network;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Training;

/// <summary>
/// A training job's files under training/JOB in the node's data directory. A checkpoint (a trainer's file,
/// or SR's directory) is written under .partial/, each file fsynced and renamed into checkpoints/step-N/,
/// and then step-N.json is renamed in beside it: a checkpoint counts only once its .json is there, and the
/// rename's directory fsync also makes step-N/ durable. The result is the stage's weights in one file.
/// </summary>
internal sealed class TrainingFiles
{
    private const string Partial = ".partial";

    public TrainingFiles(IOptions<NodeOptions> options)
        : this(options.Value.DataDirectory)
    {
    }

    public TrainingFiles(string dataDirectory)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        Root = Path.Combine(DataDirectory, "training");
    }

    public string DataDirectory { get; }

    public string Root { get; }

    public string JobDirectory(Guid job) => Path.Combine(Root, job.ToString("N"));

    /// <summary>
    /// The base bundle a federated job with <paramref name="roundKey"/> ("{round}-{stage}") trains from: the round's
    /// base version materialized from the node's bundle by the federation client before it queues the job.
    /// </summary>
    public string RoundBaseBundle(string roundKey) => Path.Combine(Root, "rounds", roundKey, "base");

    private string Checkpoints(Guid job) => Path.Combine(JobDirectory(job), "checkpoints");

    private static string StepName(int step) => $"step-{step:D8}";

    /// <summary>The trainer's path of checkpoint <paramref name="step"/>; null when that checkpoint is not complete on disk.</summary>
    public string? CompleteCheckpoint(Guid job, int step, string name) =>
        File.Exists(Path.Combine(Checkpoints(job), StepName(step) + ".json")) ? Path.Combine(Checkpoints(job), StepName(step), name) : null;

    /// <summary>Has <paramref name="save"/> write the checkpoint of <paramref name="step"/> to a path named <paramref name="name"/>, then publishes it durably.</summary>
    public void WriteCheckpoint(Guid job, int step, string name, Action<string> save)
    {
        var partial = Path.Combine(JobDirectory(job), Partial, StepName(step));
        if (Directory.Exists(partial))
        {
            Directory.Delete(partial, recursive: true);
        }

        Directory.CreateDirectory(partial);
        save(Path.Combine(partial, name));
        // A checkpoint of this step may be left from before a restart the database did not hear of: replace it.
        Directory.CreateDirectory(Checkpoints(job));
        var target = Path.Combine(Checkpoints(job), StepName(step));
        File.Delete(target + ".json");
        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        foreach (var file in Directory.EnumerateFiles(partial, "*", SearchOption.AllDirectories).ToList())
        {
            var destination = Path.Combine(target, Path.GetRelativePath(partial, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            DurableFileStore.MoveDurably(file, destination);
        }

        var marker = Path.Combine(partial, "complete.json");
        File.WriteAllText(marker, JsonSerializer.Serialize(new { step, name }));
        DurableFileStore.MoveDurably(marker, Path.Combine(Checkpoints(job), StepName(step) + ".json"));
        Directory.Delete(partial, recursive: true);
    }

    /// <summary>Removes every checkpoint but <paramref name="keep"/> (call after the database points at it).</summary>
    public void RemoveCheckpointsExcept(Guid job, int keep)
    {
        var dir = Checkpoints(job);
        if (!Directory.Exists(dir))
        {
            return;
        }

        foreach (var marker in Directory.EnumerateFiles(dir, "step-*.json").Where(m => Path.GetFileNameWithoutExtension(m) != StepName(keep)).ToList())
        {
            File.Delete(marker); // the marker first: a half-removed checkpoint is never taken for complete
            var data = Path.ChangeExtension(marker, null);
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    /// <summary>
    /// Has <paramref name="save"/> write the result file into a partial directory (it returns the file's path
    /// there), then publishes it durably as training/JOB/NAME; returns the path relative to the data directory.
    /// </summary>
    public string WriteResult(Guid job, Func<string, string> save)
    {
        var partial = Path.Combine(JobDirectory(job), Partial, "result");
        if (Directory.Exists(partial))
        {
            Directory.Delete(partial, recursive: true);
        }

        Directory.CreateDirectory(partial);
        var written = save(partial);
        var target = Path.Combine(JobDirectory(job), Path.GetFileName(written));
        File.Delete(target);
        DurableFileStore.MoveDurably(written, target);
        Directory.Delete(partial, recursive: true);
        return Path.GetRelativePath(DataDirectory, target);
    }

    /// <summary>After a job ends: its checkpoints and partial files go (the result stays).</summary>
    public void RemoveWorkFiles(Guid job)
    {
        foreach (var dir in new[] { Checkpoints(job), Path.Combine(JobDirectory(job), Partial) })
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
