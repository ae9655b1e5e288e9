using System.Text.Json;
using System.Text.Json.Serialization;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;

namespace GenerateCT.Imaging.Phantoms;

/// <summary>
/// One synthetic patient: the HU volume, who the patient is (age, sex), the planted findings with their
/// parameters, the report and prompt, and any planted identifiers (with their exact spans in the report).
/// </summary>
public sealed record PhantomCase(int Seed, Volume Volume, int Age, PatientSex Sex, IReadOnlyList<Finding> Findings, PhantomReport Report, PlantedPhi? Phi)
{
    public string Prompt => Report.Prompt;
}

/// <summary>The files one phantom case was written to.</summary>
public sealed record PhantomCaseFiles(string Volume, string Report, string Metadata);

/// <summary>Writes a phantom case as int16 HU NIfTI (marked synthetic) + report text + a JSON sidecar.</summary>
public static class PhantomCaseWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static async Task<PhantomCaseFiles> WriteAsync(PhantomCase c, string directory, string stem, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        var files = new PhantomCaseFiles(
            Path.Combine(directory, stem + ".nii.gz"),
            Path.Combine(directory, stem + ".report.txt"),
            Path.Combine(directory, stem + ".json"));
        await NiftiFile.WriteAsync(c.Volume, files.Volume, $"phantom seed={c.Seed}", NiftiStorage.Int16, cancellationToken);
        await File.WriteAllTextAsync(files.Report, c.Report.Text, cancellationToken);
        var sidecar = new
        {
            synthetic = true,
            generator = "GenerateCT.Imaging.Phantoms.ChestPhantomGenerator",
            seed = c.Seed,
            shape = new[] { c.Volume.Depth, c.Volume.Height, c.Volume.Width },
            spacingMm = new[] { c.Volume.Spacing.Z, c.Volume.Spacing.Y, c.Volume.Spacing.X },
            age = c.Age,
            sex = c.Sex,
            prompt = c.Prompt,
            impression = c.Report.Impression,
            findings = c.Findings,
            phiSpans = c.Report.PhiSpans,
            files = new { volume = Path.GetFileName(files.Volume), report = Path.GetFileName(files.Report) },
        };
        await File.WriteAllTextAsync(files.Metadata, JsonSerializer.Serialize(sidecar, Json), cancellationToken);
        return files;
    }
}
