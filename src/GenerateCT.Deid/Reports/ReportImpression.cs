using System.Text.RegularExpressions;

namespace GenerateCT.Deid.Reports;

/// <summary>
/// Finds the impression section of a report and builds the generation prompt the way GenerateCT
/// trains on it: "{age} years old {sex}: {impression}" (GenerateCT paper §3.1, CT-RATE prompts).
/// </summary>
public static partial class ReportImpression
{
    /// <summary>
    /// The text under the IMPRESSION (or CONCLUSION, SUMMARY, OPINION) heading up to the next section
    /// heading or sign-off, whitespace collapsed; null when the report has no such section.
    /// </summary>
    public static string? Extract(string reportText)
    {
        var m = ImpressionHeading().Match(reportText);
        if (!m.Success)
            return null;
        var rest = reportText[(m.Index + m.Length)..];
        var next = NextSection().Match(rest);
        var body = next.Success ? rest[..next.Index] : rest;
        var collapsed = Whitespace().Replace(body, " ").Trim();
        return collapsed.Length == 0 ? null : collapsed;
    }

    /// <summary>
    /// The prompt "{age} years old {sex}: {impression}". Ages over 89 are written as 90 (HIPAA Safe
    /// Harbor); sex is "male" or "female", otherwise omitted with its space.
    /// </summary>
    public static string BuildPrompt(int? ageYears, string? sex, string impression)
    {
        var age = ageYears is { } a ? Math.Min(a, 90).ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown age";
        var s = sex switch { "M" => "male", "F" => "female", _ => null };
        return s is null ? $"{age} years old: {impression}" : $"{age} years old {s}: {impression}";
    }

    [GeneratedRegex(@"(?im)^[ \t]*(?:IMPRESSIONS?|CONCLUSIONS?|SUMMARY|OPINION|ASSESSMENT)[ \t]*(?::|\n|$)")]
    private static partial Regex ImpressionHeading();

    [GeneratedRegex(@"(?im)^[ \t]*(?:[A-Z][A-Z /&]{2,40}:|electronically\s+signed|signed\s+by|dictated\s+by|attestation|recommendations?\b|end\s+of\s+(?:report|impression))")]
    private static partial Regex NextSection();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
