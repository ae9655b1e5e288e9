using GenerateCT.Imaging;
using GenerateCT.Imaging.Montage;
using GenerateCT.Imaging.Nifti;

namespace GenerateCT.Dicom.Imaging;

/// <summary>A generated volume as its writer needs it: the voxels, the prompt and seed it came from, and its number in the cohort.</summary>
public sealed record SyntheticVolume(Volume Volume, string Prompt, long Seed, int Index);

/// <summary>
/// Writes one generated volume in one output format, always marked synthetic: NIfTI (.nii.gz, descrip
/// and intent name), a DICOM CT series (ImageType DERIVED\SECONDARY, <see cref="CtSeriesWriter.SyntheticMarker"/>)
/// and a PNG montage. The one implementation behind `gct generate` and the node's generation jobs.
/// </summary>
public static class SyntheticVolumeWriter
{
    public const string Nifti = "nifti";
    public const string Dicom = "dicom";
    public const string Png = "png";

    public static IReadOnlyList<string> Formats { get; } = [Nifti, Dicom, Png];

    /// <summary>Parses a comma-separated list ("nifti,dicom,png"); unknown names are an <see cref="ArgumentException"/> that lists the known ones.</summary>
    public static IReadOnlyList<string> ParseFormats(string list)
    {
        var formats = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => f.ToLowerInvariant()).Distinct().ToList();
        var unknown = formats.Where(f => !Formats.Contains(f)).ToList();
        if (formats.Count == 0 || unknown.Count > 0)
        {
            throw new ArgumentException($"unknown format '{string.Join(",", unknown)}'; use a comma-separated list of {string.Join(", ", Formats)}");
        }

        return formats;
    }

    /// <summary>File stem of volume <paramref name="index"/> (0-based): "synthetic-001".</summary>
    public static string Stem(int index) => $"synthetic-{index + 1:D3}";

    /// <summary>
    /// Writes <paramref name="v"/> in <paramref name="format"/> into <paramref name="directory"/> under
    /// <see cref="Stem"/>; returns the file (NIfTI, PNG) or the series directory (DICOM) written.
    /// </summary>
    public static async Task<string> WriteAsync(string format, SyntheticVolume v, string directory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(v);
        var stem = Path.Combine(directory, Stem(v.Index));
        switch (format)
        {
            case Nifti:
                {
                    var path = stem + ".nii.gz";
                    await NiftiFile.WriteAsync(v.Volume, path, $"GenerateCT seed={v.Seed}", NiftiStorage.Float32, cancellationToken).ConfigureAwait(false);
                    return path;
                }

            case Png:
                {
                    var path = stem + ".png";
                    await VolumeMontage.SavePngAsync(v.Volume, path, CtWindow.Mediastinal, stripSlices: Math.Min(8, v.Volume.Depth), cancellationToken: cancellationToken).ConfigureAwait(false);
                    return path;
                }

            case Dicom:
                {
                    var dir = stem + "-dicom";
                    var options = new CtSeriesOptions
                    {
                        Synthetic = true,
                        PatientName = "SYNTHETIC^GENERATECT",
                        PatientId = Stem(v.Index),
                        StudyDescription = "GenerateCT synthetic chest CT",
                        ImageComments = "prompt: " + v.Prompt,
                        WindowCenter = -600,
                        WindowWidth = 1500,
                    };
                    await CtSeriesWriter.WriteAsync(v.Volume, dir, options, cancellationToken).ConfigureAwait(false);
                    return dir;
                }

            default:
                throw new ArgumentException($"unknown output format '{format}'; use one of {string.Join(", ", Formats)}", nameof(format));
        }
    }
}
