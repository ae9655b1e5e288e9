using System.IO.Compression;
using System.Security.Cryptography;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Dicom.Network;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Jobs;

/// <summary>A finished output file: its name in the job directory, size and SHA-256.</summary>
internal sealed record WrittenOutput(string FileName, long SizeBytes, string Sha256);

/// <summary>
/// The output tree: one directory per job (its id) under the output root. A file is first written
/// under the job's <c>.partial/</c> directory, then fsynced and renamed into place, so a name in the job
/// directory always denotes a complete file; a crash leaves only <c>.partial/</c> debris, which the
/// start-up sweep removes. A DICOM output is its series zipped into one file (one download).
/// </summary>
internal sealed class JobOutputFiles
{
    private const string PartialDirectory = ".partial";

    /// <summary>The output root of the node's configuration (<see cref="GenerationOptions.OutputRoot"/>).</summary>
    public JobOutputFiles(IOptions<NodeOptions> options)
        : this(options.Value.Generation.OutputRoot(options.Value.DataDirectory))
    {
    }

    public JobOutputFiles(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string JobDirectory(Guid job) => Path.Combine(Root, job.ToString("N"));

    /// <summary>Writes <paramref name="volume"/> in <paramref name="format"/> durably into the job's directory.</summary>
    public async Task<WrittenOutput> WriteAsync(Guid job, string format, SyntheticVolume volume, CancellationToken ct)
    {
        var partial = Path.Combine(JobDirectory(job), PartialDirectory, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(partial);
        try
        {
            var written = await SyntheticVolumeWriter.WriteAsync(format, volume, partial, ct);
            var file = written;
            if (Directory.Exists(written))
            {
                file = written + ".zip";
                await ZipFile.CreateFromDirectoryAsync(written, file, CompressionLevel.Fastest, includeBaseDirectory: true, ct);
            }

            var name = Path.GetFileName(file);
            var target = Path.Combine(JobDirectory(job), name);
            DurableFileStore.MoveDurably(file, target);
            var (size, sha) = await HashAsync(target, ct);
            return new WrittenOutput(name, size, sha);
        }
        finally
        {
            Directory.Delete(partial, recursive: true);
        }
    }

    /// <summary>Opens an output for reading; <see cref="FileNotFoundException"/> when it is gone.</summary>
    public FileStream OpenRead(Guid job, string fileName)
    {
        // Names come from our own rows, but a name must never lead out of the job's directory.
        if (fileName.Length == 0 || fileName != Path.GetFileName(fileName) || fileName.StartsWith('.'))
        {
            throw new FileNotFoundException($"'{fileName}' is not an output file name", fileName);
        }

        return new FileStream(Path.Combine(JobDirectory(job), fileName), new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.Asynchronous | FileOptions.SequentialScan });
    }

    /// <summary>Removes a job's directory and everything in it (failed or cancelled jobs keep nothing).</summary>
    public void Remove(Guid job)
    {
        var dir = JobDirectory(job);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Start-up sweep: removes every job directory not in <paramref name="keep"/>, and the partial files of those kept.</summary>
    public int Sweep(IReadOnlySet<Guid> keep)
    {
        var removed = 0;
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            if (!Guid.TryParseExact(Path.GetFileName(dir), "N", out var job))
            {
                continue; // not ours: the output directory may be shared with other files
            }

            if (keep.Contains(job))
            {
                var partial = Path.Combine(dir, PartialDirectory);
                if (Directory.Exists(partial))
                {
                    Directory.Delete(partial, recursive: true);
                    removed++;
                }

                continue;
            }

            Directory.Delete(dir, recursive: true);
            removed++;
        }

        return removed;
    }

    public static async Task<(long Size, string Sha256)> HashAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var hash = await SHA256.HashDataAsync(stream, ct);
        return (stream.Length, Convert.ToHexStringLower(hash));
    }
}
