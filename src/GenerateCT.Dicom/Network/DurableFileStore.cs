using System.Runtime.InteropServices;

namespace GenerateCT.Dicom.Network;

/// <summary>Where <see cref="DurableFileStore"/> writes, and the parse limits it applies.</summary>
public sealed class DurableFileStoreOptions
{
    /// <summary>Accepted instances land here as {SOPInstanceUID}.dcm.</summary>
    public required string IncomingDirectory { get; init; }

    /// <summary>Refused instances land here (<see cref="DicomQuarantine"/>: {time}-{random}.dcm with a .reason.txt beside each).</summary>
    public required string QuarantineDirectory { get; init; }

    public DicomReadOptions ReadOptions { get; init; } = DicomReadOptions.Default;
}

/// <summary>
/// The default C-STORE handler: parses the instance, writes it as a Part 10 file to a temp file in
/// the incoming directory, fsyncs it, renames it atomically into place and fsyncs the directory —
/// only then is success returned (and sent). Instances that fail to parse or contradict their
/// command are written to quarantine/ with a reason file and refused (0xC000 / 0xA900).
/// </summary>
public sealed class DurableFileStore : ICStoreHandler
{
    private readonly DurableFileStoreOptions _options;
    private readonly DicomQuarantine _quarantine;

    public DurableFileStore(DurableFileStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        Directory.CreateDirectory(options.IncomingDirectory);
        _quarantine = new DicomQuarantine(options.QuarantineDirectory);
    }

    /// <summary>Raised after an instance was quarantined (for the audit log).</summary>
    public event EventHandler<QuarantinedFile>? Quarantined;

    public async Task<DicomStatus> HandleAsync(CStoreRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            request.ParseAndValidate(_options.ReadOptions);
        }
        catch (DicomDatasetMismatchException ex)
        {
            await QuarantineAsync(request, ex.Message, cancellationToken).ConfigureAwait(false);
            return DicomStatus.DatasetDoesNotMatchSopClass(ex.Message);
        }
        catch (Exception ex) when (ex is DicomParseException or DicomNotSupportedException)
        {
            await QuarantineAsync(request, ex.Message, cancellationToken).ConfigureAwait(false);
            return DicomStatus.CannotUnderstand(ex.Message);
        }

        if (!DicomUid.IsValid(request.SopInstanceUid))
        {
            await QuarantineAsync(request, $"SOP Instance UID '{request.SopInstanceUid}' is not a valid UID", cancellationToken).ConfigureAwait(false);
            return DicomStatus.CannotUnderstand("invalid SOP Instance UID");
        }

        var path = Path.Combine(_options.IncomingDirectory, request.SopInstanceUid + ".dcm");
        try
        {
            await WriteDurablyAsync(path, request.ToPart10Bytes(), cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            return DicomStatus.OutOfResources($"storage failed: {ex.Message}");
        }

        return DicomStatus.Success;
    }

    /// <summary>Temp file + fsync + atomic rename + directory fsync: after return the file survives a crash (POSIX rename semantics).</summary>
    public static async Task WriteDurablyAsync(string path, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var fs = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous, BufferSize = 0 }))
            {
                await fs.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                fs.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
            SyncDirectory(dir);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Publishes a finished file: fsync it, rename it atomically to <paramref name="destination"/> (same
    /// file system), fsync the directory. Readers see either no file or the whole one.
    /// </summary>
    public static void MoveDurably(string source, string destination)
    {
        using (var fs = new FileStream(source, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            fs.Flush(flushToDisk: true);
        }

        File.Move(source, destination, overwrite: false);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
    }

    private async Task QuarantineAsync(CStoreRequest request, string reason, CancellationToken ct)
    {
        var file = await _quarantine.WriteAsync(
            request.ToPart10Bytes(),
            reason,
            request.Association.CallingAeTitle,
            new Dictionary<string, string>
            {
                ["peer"] = request.Association.RemoteEndPoint.ToString(),
                ["SOP Class"] = request.SopClassUid,
                ["SOP Instance"] = request.SopInstanceUid,
                ["transfer syntax"] = request.TransferSyntax.Uid,
            },
            ct).ConfigureAwait(false);
        Quarantined?.Invoke(this, new QuarantinedFile(request.SopInstanceUid, request.Association, reason, file));
    }

    private static void SyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return; // Windows: MoveFileEx is durable enough with the file flushed
        }

        int fd = NativeMethods.open(dir, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            return;
        }

        try
        {
            if (NativeMethods.fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {dir} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = NativeMethods.close(fd);
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi)]
        public static extern int open(string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}

/// <summary>An instance refused and kept in quarantine/ with its reason.</summary>
public sealed record QuarantinedFile(string SopInstanceUid, DicomAssociationInfo Association, string Reason, string Path);
