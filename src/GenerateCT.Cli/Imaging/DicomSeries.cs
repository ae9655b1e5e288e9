using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Reports;

namespace GenerateCT.Cli.Imaging;

/// <summary>
/// The DICOM side of the imaging verbs: `gct phantom` (and the demo) write each case as a CT series
/// too, and `gct preview`/`gct convert` read DICOM series directories through the series assembler.
/// </summary>
internal static class DicomSeries
{
    /// <summary>
    /// {stem}-dicom/: the phantom as a CT series, marked synthetic. Patient attributes come from the
    /// planted PHI when the case has some (de-identification tests), else from the seed.
    /// </summary>
    public static async Task WritePhantomAsync(PhantomCase phantom, string directory, string stem, CancellationToken ct)
    {
        var phi = phantom.Phi;
        var name = phi?.PatientName.Split(' ', 2) is [var given, var family] ? $"{family}^{given}" : $"PHANTOM^{phantom.Seed}";
        await CtSeriesWriter.WriteAsync(phantom.Volume, Path.Combine(directory, stem + "-dicom"), new CtSeriesOptions
        {
            PatientName = name,
            PatientId = phi?.MedicalRecordNumber ?? $"PH{phantom.Seed:D6}",
            PatientAge = $"{Math.Clamp(phantom.Age, 0, 999):D3}Y",
            PatientSex = phantom.Sex == PatientSex.Male ? "M" : "F",
            PatientBirthDate = phi?.BirthDate,
            AccessionNumber = phi?.AccessionNumber ?? $"PHA{phantom.Seed:D6}",
            StudyDateTime = (phi?.StudyDate ?? new DateOnly(2024, 1, 1)).ToDateTime(new TimeOnly(9, 0)),
            StudyDescription = "CT CHEST",
            Synthetic = true,
        }, ct);
    }

    /// <summary>The first CT volume the series assembler builds from <paramref name="directory"/>.</summary>
    public static async Task<Volume> ReadVolumeAsync(string directory, CancellationToken ct)
    {
        var result = await SeriesAssembler.AssembleDirectoryAsync(directory, cancellationToken: ct);
        if (result.Volumes.Count == 0)
        {
            var why = result.Rejected.Count > 0 ? string.Join("; ", result.Rejected.Select(r => r.Reason)) : "no CT instances found";
            throw new InvalidDataException($"{directory}: no volume could be assembled: {why}");
        }

        if (result.Volumes.Count > 1)
        {
            Console.Error.WriteLine($"{directory}: {result.Volumes.Count} volumes found; using the first ({result.Volumes[0].SeriesInstanceUid})");
        }

        return result.Volumes[0].Volume;
    }
}
