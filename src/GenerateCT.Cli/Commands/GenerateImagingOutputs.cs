using GenerateCT.Model.Pipeline;

namespace GenerateCT.Cli.Commands;

/// <summary>NIfTI and PNG outputs through GenerateCT.Imaging (NiftiFile, VolumeMontage).</summary>
internal static class ImagingOutputs
{
    public static Task<string> WriteAsync(string format, GeneratedVolume v, string stemPath, CancellationToken ct) =>
        throw new InvalidOperationException($"--format {format} needs GenerateCT.Imaging's writers, which are not in this build yet; use --format dicom");
}

/// <summary>NIfTI input through GenerateCT.Imaging.</summary>
internal static class ImagingInputs
{
    public static Task<GenerateCT.Imaging.Volume> ReadVolumeAsync(string path, CancellationToken ct) =>
        throw new InvalidOperationException($"reading {path} needs GenerateCT.Imaging's NIfTI reader, which is not in this build yet");
}
