using System.Text;

namespace GenerateCT.Deid.Reports;

/// <summary>The text form `gct deid report` and the folder run write for a de-identified report.</summary>
public static class ReportFile
{
    public static string Format(DeidentifiedReport r)
    {
        var sb = new StringBuilder();
        if (r.PseudonymousAccessionNumber is not null) sb.Append("Accession: ").Append(r.PseudonymousAccessionNumber).Append('\n');
        if (r.PseudonymousPatientId is not null) sb.Append("Patient: ").Append(r.PseudonymousPatientId).Append('\n');
        if (r.Prompt is not null) sb.Append("Prompt: ").Append(r.Prompt).Append('\n');
        if (sb.Length > 0) sb.Append('\n');
        sb.Append(r.Text).Append('\n');
        return sb.ToString();
    }
}
