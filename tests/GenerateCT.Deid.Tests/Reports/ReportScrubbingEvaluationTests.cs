using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;
using GenerateCT.Deid.Tests.EvalSet;
using Xunit.Abstractions;

namespace GenerateCT.Deid.Tests.Reports;

/// <summary>
/// Measures report scrubbing on the fixed evaluation set (Data/report-eval.jsonl, 120 reports):
/// PHI recall (planted spans no longer anywhere in the output) and clinical-word precision (clinical
/// words still present), through the same path the node takes: ORU^R01 → report → scrubbed report.
/// </summary>
public sealed class ReportScrubbingEvaluationTests(ITestOutputHelper output)
{
    private static string DataPath => Path.Combine(AppContext.BaseDirectory, "Data", "report-eval.jsonl");

    [Fact]
    public void Checked_in_evaluation_set_is_exactly_what_the_seeded_generator_writes()
    {
        var expected = ReportEvalSet.ToJsonLines(ReportEvalSet.Generate(new ChestCtFindingsWriter()));
        // Regenerate with: GCT_WRITE_REPORT_EVAL=$PWD/tests/GenerateCT.Deid.Tests/Data/report-eval.jsonl dotnet test ... --filter Checked_in_evaluation_set
        if (Environment.GetEnvironmentVariable("GCT_WRITE_REPORT_EVAL") is { Length: > 0 } target)
            File.WriteAllText(target, expected, new UTF8Encoding(false));
        Assert.Equal(expected, File.ReadAllText(DataPath));
    }

    [Fact]
    public void Scrubbing_the_evaluation_set_removes_at_least_99_percent_of_planted_phi_and_keeps_clinical_words()
    {
        var set = ReportEvalSet.Load(DataPath);
        Assert.True(set.Count >= 100, $"the evaluation set has {set.Count} reports; the issue asks for at least 100");
        var deid = new ReportDeidentifier(new KeyedPseudonyms(SiteSecret.FromBytes(new byte[32])));

        var phiTotal = new Dictionary<string, int>();
        var phiRemoved = new Dictionary<string, int>();
        var missed = new List<string>();
        int clinicalTotal = 0, clinicalKept = 0;
        var lostWords = new Dictionary<string, int>();
        foreach (var r in set)
        {
            var report = OruReportReader.Read(Hl7Message.Parse(r.Hl7));
            Assert.Equal(r.Text, report.Text);
            var result = deid.Deidentify(report);

            foreach (var span in r.Phi)
            {
                Assert.Equal(span.Text, r.Text[span.Start..span.End]);
                phiTotal[span.Kind] = phiTotal.GetValueOrDefault(span.Kind) + 1;
                if (Survives(span, result.Text))
                    missed.Add($"{r.Id} {span.Kind} '{span.Text}'");
                else
                    phiRemoved[span.Kind] = phiRemoved.GetValueOrDefault(span.Kind) + 1;
            }
            foreach (var g in r.Clinical.GroupBy(w => w))
            {
                var expected = g.Count();
                var kept = Math.Min(expected, Regex.Matches(result.Text, $@"(?<![A-Za-z]){Regex.Escape(g.Key)}(?![A-Za-z])").Count);
                clinicalTotal += expected;
                clinicalKept += kept;
                if (kept < expected)
                    lostWords[g.Key] = lostWords.GetValueOrDefault(g.Key) + expected - kept;
            }
        }

        var total = phiTotal.Values.Sum();
        var removed = phiRemoved.Values.Sum();
        var recall = (double)removed / total;
        var precision = (double)clinicalKept / clinicalTotal;
        var summary = new StringBuilder();
        summary.AppendLine(CultureInfo.InvariantCulture, $"report scrubbing on {set.Count} reports: PHI recall {recall:F4} ({removed}/{total} spans), clinical-word precision {precision:F4} ({clinicalKept}/{clinicalTotal} words kept)");
        foreach (var kind in phiTotal.Keys.Order())
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {kind,-12} {phiRemoved.GetValueOrDefault(kind)}/{phiTotal[kind]}");
        foreach (var m in missed.Take(20))
            summary.AppendLine("  missed: " + m);
        foreach (var w in lostWords.OrderByDescending(kv => kv.Value).Take(20))
            summary.AppendLine(CultureInfo.InvariantCulture, $"  lost clinical word: {w.Key} x{w.Value}");
        output.WriteLine(summary.ToString());
        Console.WriteLine(summary.ToString());
        File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "report-eval-result.txt"), summary.ToString());

        Assert.True(recall >= 0.99, summary.ToString());
        Assert.True(precision >= 0.98, summary.ToString());
    }

    /// <summary>A planted span survives when its text (every word of a name) still occurs as a whole word anywhere in the output.</summary>
    private static bool Survives(PhiSpan span, string output)
    {
        var parts = span.Kind == "Name"
            ? span.Text.Split([' ', ',', '-'], StringSplitOptions.RemoveEmptyEntries).Where(p => p.Length >= 2)
            : [span.Text];
        return parts.Any(p => Regex.IsMatch(output, $@"(?<![\p{{L}}\p{{N}}]){Regex.Escape(p)}(?![\p{{L}}\p{{N}}])", RegexOptions.IgnoreCase));
    }
}
