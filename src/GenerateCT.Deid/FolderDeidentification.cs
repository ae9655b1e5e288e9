using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;

namespace GenerateCT.Deid;

/// <summary>Counts of one offline folder run.</summary>
public sealed record FolderSummary(int Images, int Reports, int Refused, int NotDicom);

/// <summary>
/// De-identifies a folder of Part 10 files offline (`gct deid`) through <see cref="SiteDeidentifier"/>,
/// the node's own path: images go to OUT/&lt;study&gt;/&lt;series&gt;/&lt;instance&gt;.dcm under their
/// pseudonymous UIDs, SR reports to OUT/reports/&lt;instance&gt;.txt, refusals are listed, never written.
/// </summary>
public static class FolderDeidentification
{
    public static async Task<FolderSummary> RunAsync(SiteDeidentifier deid, string inputDirectory, string outputDirectory, Action<string> log, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(inputDirectory))
            throw new DirectoryNotFoundException($"input folder {inputDirectory} does not exist");
        var input = Path.GetFullPath(inputDirectory);
        var output = Path.GetFullPath(outputDirectory);
        if (output.StartsWith(input + Path.DirectorySeparatorChar, StringComparison.Ordinal) || output == input)
            throw new ArgumentException("the output folder must not be inside the input folder (identified and de-identified files would mix)");
        int images = 0, reports = 0, refused = 0, notDicom = 0;
        foreach (var path in Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var relative = Path.GetRelativePath(input, path);
            DicomFile file;
            try
            {
                file = await DicomFile.OpenAsync(path, cancellationToken);
            }
            catch (DicomParseException e)
            {
                notDicom++;
                log($"skipped {relative}: not a readable Part 10 file ({e.Message})");
                continue;
            }
            switch (deid.Deidentify(file))
            {
                case DeidentifiedImage img:
                    var dir = Path.Combine(output, img.Instance.StudyInstanceUid, img.Instance.SeriesInstanceUid);
                    Directory.CreateDirectory(dir);
                    await img.File.SaveAsync(Path.Combine(dir, img.Instance.SopInstanceUid + ".dcm"), cancellationToken);
                    images++;
                    break;
                case DeidentifiedSrReport sr:
                    var reportDir = Path.Combine(output, "reports");
                    Directory.CreateDirectory(reportDir);
                    await File.WriteAllTextAsync(Path.Combine(reportDir, sr.PseudonymousSopInstanceUid + ".txt"), ReportFile.Format(sr.Report), cancellationToken);
                    reports++;
                    break;
                case RefusedInstance r:
                    // The input path may itself be identifying; the log names the pseudonymous instance only.
                    refused++;
                    log($"refused instance {r.PseudonymousSopInstanceUid} ({r.Reason}): {r.Message}");
                    break;
            }
        }
        await deid.FlushAsync(cancellationToken);
        return new FolderSummary(images, reports, refused, notDicom);
    }
}
