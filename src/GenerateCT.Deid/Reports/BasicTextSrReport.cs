using System.Text;
using GenerateCT.Dicom;

namespace GenerateCT.Deid.Reports;

/// <summary>
/// Reads the report out of a Basic Text SR instance (PS3.3 §A.35.1): the content tree's CONTAINER
/// items become headings (their Concept Name's Code Meaning, upper-cased, so "Impression" becomes the
/// IMPRESSION section), TEXT items their paragraphs. Identifying attributes of the instance (patient,
/// physicians, observers, PNAME items, IDs) are collected for the scrubber.
/// </summary>
public static class BasicTextSrReport
{
    public const string BasicTextSrStorage = "1.2.840.10008.5.1.4.1.1.88.11";
    public const string EnhancedSrStorage = "1.2.840.10008.5.1.4.1.1.88.22";
    public const string ComprehensiveSrStorage = "1.2.840.10008.5.1.4.1.1.88.33";

    /// <summary>True for the SR storage classes whose text this reader understands.</summary>
    public static bool IsTextReport(DicomDataset ds) =>
        ds.GetString(DicomTag.SOPClassUID) is BasicTextSrStorage or EnhancedSrStorage or ComprehensiveSrStorage;

    public static RadiologyReport Read(DicomDataset ds)
    {
        if (!IsTextReport(ds))
            throw new ArgumentException($"SOP class {ds.GetString(DicomTag.SOPClassUID)} is not a Basic Text, Enhanced or Comprehensive SR", nameof(ds));
        var text = new StringBuilder();
        var names = new List<PersonName>();
        var ids = new List<string>();
        foreach (var (owner, e) in ds.EnumerateAll())
        {
            if (e.VR == DicomVR.PN && owner.GetString(e.Tag) is { Length: > 0 } pn)
                names.AddRange(pn.Split('\\').Select(PersonName.FromDicom));
        }
        foreach (var tag in new[] { DicomTag.PatientID, DicomTag.AccessionNumber, DicomTag.StudyID })
        {
            if (ds.GetString(tag) is { Length: >= 3 } v)
                ids.AddRange(v.Split('\\'));
        }
        if (ds.GetSequence(DicomTag.ContentSequence) is { } content)
            AppendItems(content, text, 1); // the data set itself is the root CONTAINER
        var birth = DicomDate.Parse(ds.GetString(DicomTag.PatientBirthDate));
        var observed = DicomDate.Parse(ds.GetString(DicomTag.ContentDate)) ?? DicomDate.Parse(ds.GetString(DicomTag.StudyDate));
        var sex = (ds.GetString(DicomTag.PatientSex) ?? "").Trim();
        return new RadiologyReport
        {
            Text = text.ToString().Trim('\n'),
            AccessionNumber = NullIfEmpty(ds.GetString(DicomTag.AccessionNumber)),
            PatientId = NullIfEmpty(ds.GetString(DicomTag.PatientID)),
            Names = names,
            Identifiers = ids,
            BirthDate = birth,
            ObservationDate = observed,
            Sex = sex is "M" or "F" or "O" ? sex : null,
            AgeYears = ParseAge(ds.GetString(DicomTag.PatientAge)) ?? AgeInYears.At(birth, observed),
        };
    }

    private static void AppendItems(DicomSequence seq, StringBuilder text, int depth)
    {
        foreach (var item in seq.Items)
        {
            var type = item.GetString(DicomTag.ValueType)?.Trim();
            var concept = item.GetSequence(DicomTag.ConceptNameCodeSequence)?.Items.FirstOrDefault()?.GetString(DicomTag.CodeMeaning)?.Trim();
            switch (type)
            {
                case "CONTAINER":
                    if (depth > 0 && !string.IsNullOrEmpty(concept))
                        text.Append('\n').Append(concept.ToUpperInvariant()).Append(":\n");
                    break;
                case "TEXT":
                    // A TEXT item straight under the root names its own section ("Impression").
                    if (depth == 1 && !string.IsNullOrEmpty(concept))
                        text.Append('\n').Append(concept.ToUpperInvariant()).Append(":\n");
                    var value = item.GetString(DicomTag.TextValue) ?? "";
                    if (value.Length > 0)
                        text.Append(value.TrimEnd()).Append('\n');
                    break;
            }
            if (item.GetSequence(DicomTag.ContentSequence) is { } children)
                AppendItems(children, text, depth + 1);
        }
    }

    private static int? ParseAge(string? a)
    {
        if (a is not { Length: 4 } || a[3] != 'Y' || !int.TryParse(a.AsSpan(0, 3), out var y))
            return null;
        return y;
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
