using GenerateCT.Imaging.Reports;

namespace GenerateCT.Imaging.Phantoms;

/// <summary>
/// A phantom's chest CT report in the style of CT-RATE (findings, then impression) and the GenerateCT prompt made
/// from it. <see cref="Text"/> is the whole report as a PACS/RIS would send it, including any planted
/// identifiers; <see cref="PhiSpans"/> says exactly where they are.
/// </summary>
public sealed record PhantomReport(string Text, string Findings, string Impression, string Prompt, IReadOnlyList<PhiSpan> PhiSpans)
{
    /// <summary>GenerateCT's prompt format (paper §3.1): <c>{age} years old {sex}: {impression}</c>.</summary>
    public static string PromptFor(int age, PatientSex sex, string impression) =>
        $"{age} years old {(sex == PatientSex.Male ? "male" : "female")}: {impression}";
}
