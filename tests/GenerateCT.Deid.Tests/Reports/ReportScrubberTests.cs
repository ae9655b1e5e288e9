using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;

namespace GenerateCT.Deid.Tests.Reports;

public sealed class ReportScrubberTests
{
    private static readonly ReportScrubber Scrubber = new();

    [Fact]
    public void Names_from_the_message_fields_are_removed_wherever_they_occur_and_clinical_text_stays()
    {
        var ctx = new ScrubContext { Names = [new PersonName("Abernathy", "Thaddeus"), new PersonName("Lindqvist", "Ingrid")] };
        var r = Scrubber.Scrub("Mr. ABERNATHY returns. Spiculated mass in the left upper lobe, discussed with ingrid lindqvist.", ctx);
        Assert.DoesNotContain("abernathy", r.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("lindqvist", r.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("ingrid", r.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Spiculated mass in the left upper lobe", r.Text);
    }

    [Fact]
    public void Names_after_titles_and_role_phrases_and_from_the_name_list_are_removed()
    {
        var r = Scrubber.Scrub("Findings called to Dr. Oyelaran-Smythe. Dictated by: Radek Wojcik, MD. The patient's wife Maria was present.", new ScrubContext());
        Assert.DoesNotContain("Oyelaran", r.Text);
        Assert.DoesNotContain("Radek", r.Text);
        Assert.DoesNotContain("Wojcik", r.Text);
        Assert.DoesNotContain("Maria", r.Text);
        Assert.Contains("Findings called to Dr.", r.Text);
    }

    [Fact]
    public void Role_phrases_followed_by_ordinary_words_are_not_names()
    {
        var r = Scrubber.Scrub("Results discussed with the Emergency Department. Radiologist: see addendum.", new ScrubContext());
        Assert.Contains("Emergency Department", r.Text);
    }

    [Fact]
    public void Dates_in_every_format_are_shifted_by_the_same_days_so_intervals_survive()
    {
        var r = Scrubber.Scrub("Exam 2024-03-05. Prior 01/10/2024 and March 1, 2023 and 05.02.2024 and 20240101.", new ScrubContext { DateShiftDays = -100 });
        Assert.Equal("Exam 2023-11-26. Prior 10/2/2023 and November 21, 2022 and 28.10.2023 and 20230923.", r.Text);
    }

    [Fact]
    public void Without_a_shift_dates_are_replaced()
    {
        var r = Scrubber.Scrub("Seen on 3/5/24.", new ScrubContext());
        Assert.Equal("Seen on [DATE].", r.Text);
    }

    [Fact]
    public void Identifiers_phones_emails_addresses_and_ages_over_89_are_removed_but_measurements_stay()
    {
        const string text = "MRN: 00482913. Accession # 24CT004512. Call 617-555-0134 or (617) 555-0199 ext. 22, mail r.w@aldric.example.com. " +
                            "Home: 12 Harbor View Road, Springfield, IL 62704. 93-year-old woman; age 95. A 45-year-old sibling. Nodule 12 x 9 mm, 120 kVp, DLP 412.5 mGy*cm.";
        var r = Scrubber.Scrub(text, new ScrubContext());
        foreach (var phi in new[] { "00482913", "24CT004512", "555-0134", "555-0199", "r.w@aldric", "Harbor View", "62704", "93-year", "age 95" })
            Assert.DoesNotContain(phi, r.Text);
        foreach (var kept in new[] { "45-year-old", "12 x 9 mm", "120 kVp", "412.5 mGy*cm" })
            Assert.Contains(kept, r.Text);
        Assert.Contains("90+-year-old", r.Text);
    }

    [Fact]
    public void Impression_is_extracted_and_the_prompt_follows_the_paper()
    {
        const string report = "FINDINGS:\nNodule.\n\nIMPRESSION:\n1. Solid 9 mm nodule in the right upper lobe.\n2. Mild emphysema.\n\nElectronically signed by [NAME]";
        var impression = ReportImpression.Extract(report);
        Assert.Equal("1. Solid 9 mm nodule in the right upper lobe. 2. Mild emphysema.", impression);
        Assert.Equal("65 years old male: " + impression, ReportImpression.BuildPrompt(65, "M", impression!));
        Assert.Equal("90 years old female: x", ReportImpression.BuildPrompt(97, "F", "x"));
    }

    [Fact]
    public void Report_de_identification_links_by_the_same_accession_pseudonym_and_shifts_by_the_patient_shift()
    {
        var keys = new KeyedPseudonyms(SiteSecret.FromBytes(new byte[32]));
        var report = OruReportReader.Read(Hl7Message.Parse(Hl7MessageTests.Oru));
        var d = new ReportDeidentifier(keys).Deidentify(report);
        Assert.Equal(keys.AccessionNumber("ACC20240305"), d.PseudonymousAccessionNumber);
        Assert.DoesNotContain("Lindqvist", d.Text);
        Assert.DoesNotContain("03/05/2024", d.Text);
        var shifted = new DateOnly(2024, 3, 5).AddDays(keys.DateShiftDays("00482913"));
        Assert.Contains($"{shifted.Month}/{shifted.Day}/{shifted.Year}", d.Text);
        Assert.StartsWith("66 years old male: Stable 6 mm nodule", d.Prompt);
    }
}
