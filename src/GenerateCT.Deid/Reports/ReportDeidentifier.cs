using GenerateCT.Deid.Keys;

namespace GenerateCT.Deid.Reports;

/// <summary>A report after de-identification: nothing here identifies the patient.</summary>
public sealed record DeidentifiedReport(
    string Text,
    string? Impression,
    string? Prompt,
    string? PseudonymousAccessionNumber,
    string? PseudonymousPatientId,
    int? AgeYears,
    string? Sex,
    int ScrubbedSpans);

/// <summary>
/// De-identifies reports with the
/// same site keys as the dataset de-identification: dates move by the patient's DICOM date shift (keyed by the original patient ID)
/// and the accession number becomes the same pseudonym the CT study gets, so report and study link.
/// </summary>
public sealed class ReportDeidentifier(KeyedPseudonyms keys, ReportScrubber? scrubber = null)
{
    private readonly ReportScrubber _scrubber = scrubber ?? new ReportScrubber();

    public DeidentifiedReport Deidentify(RadiologyReport report)
    {
        var context = new ScrubContext
        {
            Names = report.Names,
            Identifiers = [.. report.Identifiers, .. new[] { report.AccessionNumber, report.PatientId }.OfType<string>()],
            DateShiftDays = report.PatientId is { Length: > 0 } pid ? keys.DateShiftDays(pid) : null,
        };
        var scrubbed = _scrubber.Scrub(report.Text, context);
        var impression = ReportImpression.Extract(scrubbed.Text);
        var age = report.AgeYears is { } a ? Math.Min(a, 90) : (int?)null;
        return new DeidentifiedReport(
            scrubbed.Text,
            impression,
            impression is null ? null : ReportImpression.BuildPrompt(age, report.Sex, impression),
            report.AccessionNumber is { Length: > 0 } acc ? keys.AccessionNumber(acc) : null,
            report.PatientId is { Length: > 0 } p ? keys.PatientId(p) : null,
            age,
            report.Sex,
            scrubbed.Spans.Count);
    }
}
