using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;

namespace GenerateCT.Imaging.Tests;

public sealed class PhantomReportTests
{
    [Fact]
    public void Prompt_is_age_sex_and_impression()
    {
        var findings = new Finding[] { new Cardiomegaly(0.6), new PericardialEffusion(12), new PleuralEffusion(Side.Bilateral, 30) };
        var report = PhantomReportWriter.Write(findings, 64, PatientSex.Female, null, new Random(1));
        Assert.Equal("64 years old female: Cardiomegaly. Pericardial effusion. Bilateral pleural effusion.", report.Prompt);
        Assert.Contains("Findings: ", report.Text);
        Assert.Contains("Impression: " + report.Impression, report.Text);
        Assert.Contains("enlarged", report.Findings);
        Assert.Empty(report.PhiSpans);
    }

    [Fact]
    public void A_normal_phantom_has_a_normal_impression()
    {
        var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 4, Slices = 16, Size = 48 });
        Assert.Equal("No significant thoracic pathology.", c.Report.Impression);
        Assert.Matches(@"^\d+ years old (male|female): No significant thoracic pathology\.$", c.Prompt);
    }

    [Fact]
    public void Planted_PHI_spans_point_at_exactly_the_planted_strings_and_stay_out_of_the_prompt()
    {
        var categories = new HashSet<PhiCategory>();
        for (int seed = 0; seed < 100; seed++)
        {
            var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = seed, Slices = 8, Size = 32, PlantPhi = true, FindingKinds = [(FindingKind)(seed % 7)] });
            var phi = Assert.IsType<PlantedPhi>(c.Phi);
            var text = c.Report.Text;
            Assert.True(c.Report.PhiSpans.Count >= 7);
            foreach (var span in c.Report.PhiSpans)
            {
                Assert.Equal(span.Text, text.Substring(span.Start, span.Length));
                Assert.DoesNotContain(span.Text, c.Prompt);
                categories.Add(span.Category);
            }

            // Every occurrence of a planted value in the text is covered by a span.
            foreach (var value in new[] { phi.PatientName, phi.MedicalRecordNumber, phi.AccessionNumber, phi.ReferringPhysician })
            {
                for (int at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + 1, StringComparison.Ordinal))
                {
                    Assert.Contains(c.Report.PhiSpans, s => s.Start == at && s.Length == value.Length);
                }
            }
        }

        Assert.Equal(Enum.GetValues<PhiCategory>().Length, categories.Count);
    }

    [Fact]
    public void Text_only_reports_give_a_de_identification_set_of_100_with_every_span_exact()
    {
        var texts = new HashSet<string>();
        for (int seed = 0; seed < 100; seed++)
        {
            var (report, phi, _) = PhantomReportWriter.WriteSynthetic(seed, plantPhi: true);
            Assert.NotNull(phi);
            texts.Add(report.Text);
            Assert.All(report.PhiSpans, s => Assert.Equal(s.Text, report.Text[s.Start..s.End]));
            Assert.Contains(report.PhiSpans, s => s.Category == PhiCategory.PatientName && s.Text == phi.PatientName);
        }

        Assert.Equal(100, texts.Count);
    }
}
