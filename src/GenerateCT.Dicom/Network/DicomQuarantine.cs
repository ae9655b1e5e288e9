namespace GenerateCT.Dicom.Network;

/// <summary>
/// The quarantine directory, with one way in: each refused instance is kept as <c>{time}-{random}.dcm</c>
/// with <c>{time}-{random}.reason.txt</c> beside it, both durable before the call returns. The name is
/// random because an instance's own name, its SOP Instance UID, identifies the study. The reason file
/// starts with "reason: …" and "calling AE: …", then whatever else the writer knows ("name: value" lines).
/// </summary>
public sealed class DicomQuarantine
{
    public DicomQuarantine(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    /// <summary>Keeps received bytes that never became an accepted file (a refused C-STORE).</summary>
    /// <returns>The path of the quarantined instance.</returns>
    public async Task<string> WriteAsync(ReadOnlyMemory<byte> instance, string reason, string callingAeTitle, IEnumerable<KeyValuePair<string, string>>? details, CancellationToken cancellationToken)
    {
        var path = NewPath();
        await DurableFileStore.WriteDurablyAsync(path, instance, cancellationToken).ConfigureAwait(false);
        await WriteReasonAsync(path, reason, callingAeTitle, details, cancellationToken).ConfigureAwait(false);
        return path;
    }

    /// <summary>Moves a received file (on the same file system) into quarantine.</summary>
    /// <returns>The path of the quarantined instance.</returns>
    public async Task<string> MoveAsync(string source, string reason, string callingAeTitle, IEnumerable<KeyValuePair<string, string>>? details, CancellationToken cancellationToken)
    {
        var path = NewPath();
        DurableFileStore.MoveDurably(source, path);
        await WriteReasonAsync(path, reason, callingAeTitle, details, cancellationToken).ConfigureAwait(false);
        return path;
    }

    private string NewPath() => Path.Combine(Directory, $"{DateTime.UtcNow:yyyyMMddTHHmmssfff}-{Guid.NewGuid():N}.dcm");

    private static Task WriteReasonAsync(string instancePath, string reason, string callingAeTitle, IEnumerable<KeyValuePair<string, string>>? details, CancellationToken cancellationToken)
    {
        var text = new System.Text.StringBuilder();
        text.Append("reason: ").Append(reason).Append('\n');
        text.Append("calling AE: ").Append(callingAeTitle).Append('\n');
        foreach (var (name, value) in details ?? [])
        {
            text.Append(name).Append(": ").Append(value).Append('\n');
        }

        return DurableFileStore.WriteDurablyAsync(Path.ChangeExtension(instancePath, ".reason.txt"), System.Text.Encoding.UTF8.GetBytes(text.ToString()), cancellationToken);
    }
}
