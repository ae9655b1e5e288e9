using GenerateCT.Testing;
using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;
using GenerateCT.Deid.Tests.Reports;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Deid.Tests.Dicom;

public sealed class SiteDeidentifierTests
{
    private static SiteDeidentifier Site(byte fill, DeidentificationProfile? profile = null) =>
        new(profile ?? new DeidentificationProfile(), SiteSecret.FromBytes(Enumerable.Repeat(fill, 32).ToArray()));

    internal static DicomDataset BasicTextSr()
    {
        static DicomDataset Code(string meaning)
        {
            var c = new DicomDataset();
            c.SetString(DicomTag.CodeValue, "121073", DicomVR.SH);
            c.SetString(DicomTag.CodingSchemeDesignator, "DCM", DicomVR.SH);
            c.SetString(DicomTag.CodeMeaning, meaning, DicomVR.LO);
            return c;
        }
        static DicomDataset Item(string valueType, string concept, string? text, params DicomDataset[] children)
        {
            var it = new DicomDataset();
            it.SetString(DicomTag.RelationshipType, "CONTAINS", DicomVR.CS);
            it.SetString(DicomTag.ValueType, valueType, DicomVR.CS);
            it.SetSequence(DicomTag.ConceptNameCodeSequence, Code(concept));
            if (text is not null) it.SetString(DicomTag.TextValue, text, DicomVR.UT);
            if (children.Length > 0) it.SetSequence(DicomTag.ContentSequence, children);
            return it;
        }
        var ds = new DicomDataset();
        ds.SetUid(DicomTag.SOPClassUID, BasicTextSrReport.BasicTextSrStorage);
        ds.SetUid(DicomTag.SOPInstanceUID, "1.2.3.4.5.6.7");
        ds.SetUid(DicomTag.StudyInstanceUID, "1.2.3.4.5");
        ds.SetString(DicomTag.Modality, "SR");
        ds.SetString(DicomTag.PatientName, "Abernathy^Thaddeus");
        ds.SetString(DicomTag.PatientID, "00482913");
        ds.SetString(DicomTag.PatientBirthDate, "19580214");
        ds.SetString(DicomTag.PatientSex, "M");
        ds.SetString(DicomTag.AccessionNumber, "ACC20240305");
        ds.SetString(DicomTag.ContentDate, "20240305");
        ds.SetString(DicomTag.ValueType, "CONTAINER", DicomVR.CS);
        ds.SetSequence(DicomTag.ContentSequence,
            Item("CONTAINER", "Findings", null, Item("TEXT", "Finding", "A 7 mm nodule in the right upper lobe, unchanged since 01/10/2023. Mr. Abernathy tolerated the exam.")),
            Item("CONTAINER", "Impression", null, Item("TEXT", "Impression", "Stable 7 mm right upper lobe nodule. Discussed with Dr. Lindqvist.")));
        return ds;
    }

    [Fact]
    public void Basic_Text_SR_becomes_a_scrubbed_report_linked_by_the_accession_pseudonym_of_its_study()
    {
        var site = Site(1);
        var outcome = Assert.IsType<DeidentifiedSrReport>(site.Deidentify(new DicomFile(BasicTextSr())));
        var r = outcome.Report;
        Assert.StartsWith("FINDINGS:\nA 7 mm nodule in the right upper lobe", r.Text);
        Assert.DoesNotContain("Abernathy", r.Text);
        Assert.DoesNotContain("Lindqvist", r.Text);
        Assert.DoesNotContain("01/10/2023", r.Text);
        Assert.Equal("66 years old male: Stable 7 mm right upper lobe nodule.", r.Prompt); // the communication note is not a finding

        var ct = DicomDeidentifierTests.CtInstance("00482913", "20240305");
        ct.SetString(DicomTag.AccessionNumber, "ACC20240305");
        var image = Assert.IsType<DeidentifiedImage>(site.Deidentify(new DicomFile(ct)));
        Assert.Equal(image.Instance.PseudonymousAccessionNumber, r.PseudonymousAccessionNumber);
        Assert.Equal(image.Instance.PseudonymousPatientId, r.PseudonymousPatientId);

        // The HL7 route for the same study links the same way.
        var hl7 = site.DeidentifyHl7(Hl7MessageTests.Oru);
        Assert.Equal(r.PseudonymousAccessionNumber, hl7.PseudonymousAccessionNumber);
    }

    [Fact]
    public void Refused_instances_come_back_as_refusals_not_as_files()
    {
        var ds = DicomDeidentifierTests.CtInstance("P1", "20240305");
        ds.SetString(DicomTag.BurnedInAnnotation, "YES");
        var refused = Assert.IsType<RefusedInstance>(Site(1).Deidentify(new DicomFile(ds)));
        Assert.Equal(RefusalReason.BurnedInAnnotation, refused.Reason);
        Assert.StartsWith("2.25.", refused.PseudonymousSopInstanceUid);
    }

    [Fact]
    public async Task Folder_run_writes_images_under_pseudonymous_uids_and_reports_and_lists_refusals()
    {
        using var dir = new Scratch("gct-deid");
        var input = Directory.CreateDirectory(dir.Combine("in")).FullName;
        var output = dir.Combine("out");
        var series = CtSeriesWriter.CreateInstances(new Volume(2, 8, 8), new CtSeriesOptions { PatientName = "Abernathy^Thaddeus", PatientId = "00482913", AccessionNumber = "ACC20240305" });
        for (var i = 0; i < series.Count; i++)
            await new DicomFile(series[i]).SaveAsync(Path.Combine(input, $"Abernathy_{i}.dcm"));
        await new DicomFile(BasicTextSr()).SaveAsync(Path.Combine(input, "report.dcm"));
        var mr = DicomDeidentifierTests.CtInstance("X", "20240101");
        mr.SetString(DicomTag.Modality, "MR");
        await new DicomFile(mr).SaveAsync(Path.Combine(input, "mr.dcm"));
        await File.WriteAllTextAsync(Path.Combine(input, "notes.txt"), "not dicom");

        var log = new List<string>();
        var summary = await FolderDeidentification.RunAsync(Site(3), input, output, log.Add);

        Assert.Equal(new FolderSummary(2, 1, 1, 1), summary);
        var written = Directory.GetFiles(output, "*", SearchOption.AllDirectories);
        Assert.Equal(3, written.Length);
        Assert.All(written, f => Assert.DoesNotContain("Abernathy", f));
        foreach (var f in written)
        {
            var bytes = await File.ReadAllBytesAsync(f);
            Assert.Equal(0, DicomDeidentifierTests.CountHits(bytes, "Abernathy"));
            Assert.Equal(0, DicomDeidentifierTests.CountHits(bytes, "00482913"));
        }
        Assert.Contains(log, l => l.Contains("Modality", StringComparison.Ordinal));
        await Assert.ThrowsAsync<ArgumentException>(() => FolderDeidentification.RunAsync(Site(3), input, Path.Combine(input, "out"), log.Add));
    }
}
