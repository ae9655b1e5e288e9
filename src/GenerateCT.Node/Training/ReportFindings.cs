using GenerateCT.Imaging.Phantoms.Findings;

namespace GenerateCT.Node.Training;

/// <summary>
/// The findings a scrubbed report names in its impression, in the vocabulary the phantoms' reports use
/// (<see cref="FindingKind"/>; PhantomReportWriter.Impression writes "Cardiomegaly.", "Right pleural
/// effusion.", "Pulmonary nodules.", …, or "No significant thoracic pathology."). Only the impression is
/// read: the findings section also names what is absent ("No pleural effusion.").
/// </summary>
internal static class ReportFindings
{
    /// <summary>The name of a report whose impression names none of the findings.</summary>
    public const string Normal = "normal";

    /// <summary>Phrases of the impression, lower case, and the finding each names.</summary>
    private static readonly (string Phrase, FindingKind Kind)[] Phrases =
    [
        ("cardiomegaly", FindingKind.Cardiomegaly),
        ("pericardial effusion", FindingKind.PericardialEffusion),
        ("pleural effusion", FindingKind.PleuralEffusion),
        ("pulmonary nodule", FindingKind.LungNodules),
        ("consolidation", FindingKind.Consolidation),
        ("emphysema", FindingKind.Emphysema),
        ("atelectasis", FindingKind.Atelectasis),
    ];

    /// <summary>Every finding name in vocabulary order, then <see cref="Normal"/>: the rows of a count table.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Enum.GetValues<FindingKind>().Select(NameOf), Normal];

    /// <summary>The wire name of a finding: the phantoms' JSON names (cardiomegaly, pleural-effusion, lung-nodules, …).</summary>
    public static string NameOf(FindingKind kind) => kind switch
    {
        FindingKind.Cardiomegaly => "cardiomegaly",
        FindingKind.PericardialEffusion => "pericardial-effusion",
        FindingKind.PleuralEffusion => "pleural-effusion",
        FindingKind.LungNodules => "lung-nodules",
        FindingKind.Consolidation => "consolidation",
        FindingKind.Emphysema => "emphysema",
        FindingKind.Atelectasis => "atelectasis",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown finding"),
    };

    /// <summary>
    /// The finding names of a report: from its prompt ("{age} years old {sex}: {impression}") when it has one,
    /// else from the "Impression:" section of its scrubbed text; <see cref="Normal"/> when none is named, and
    /// nothing when the report has no impression to read.
    /// </summary>
    public static IReadOnlyList<string> Of(string? prompt, string scrubbedText)
    {
        if (ImpressionOf(prompt, scrubbedText)?.ToLowerInvariant() is not { } impression)
        {
            return [];
        }

        var found = Phrases.Where(p => impression.Contains(p.Phrase, StringComparison.Ordinal)).Select(p => NameOf(p.Kind)).Distinct().ToList();
        return found.Count > 0 ? found : [Normal];
    }

    private static string? ImpressionOf(string? prompt, string text)
    {
        if (prompt is { Length: > 0 } && prompt.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0)
        {
            return prompt[(colon + 1)..];
        }

        var at = text.LastIndexOf("impression", StringComparison.OrdinalIgnoreCase);
        return at >= 0 ? text[at..] : null;
    }
}
