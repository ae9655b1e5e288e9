using GenerateCT.Testing;
using System.Text;
using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Profile;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;
using GenerateCT.Testing.Dicom;
using Xunit.Abstractions;

namespace GenerateCT.Deid.Tests.Dicom;

public sealed class DicomDeidentifierTests(ITestOutputHelper output)
{
    private static KeyedPseudonyms Site(byte fill) => new(SiteSecret.FromBytes(Enumerable.Repeat(fill, 32).ToArray()));

    /// <summary>
    /// A patient ID whose keyed shift moves every 1900–1901 marker date before 1900, so a shifted
    /// marker can never land on another attribute's marker.
    /// </summary>
    public static TheoryData<string> Profiles => new() { "retain-characteristics,modified-dates,clean-descriptors", "none" };

    [Theory]
    [MemberData(nameof(Profiles))]
    public async Task Every_Table_E1_1_marker_is_gone_from_every_byte_of_the_written_file_except_those_the_options_keep(string options)
    {
        var keys = Site(7);
        var (original, markers) = ProfileMarkers.Build();
        var pid = ProfileMarkers.PatientIdWithLongShift(keys);
        original.SetString(DicomTag.PatientID, pid, DicomVR.LO);
        var profile = DeidentificationProfile.Parse(options);

        var result = new DicomDeidentifier(profile, keys).Deidentify(original);
        using var dir = new Scratch("gct-deid");
        var path = dir.Combine("deid.dcm");
        await new DicomFile(result.Dataset).SaveAsync(path);
        var bytes = await File.ReadAllBytesAsync(path);
        var readBack = DicomFile.Read(bytes).Dataset;

        var leaked = new List<string>();
        var kept = 0;
        foreach (var m in markers)
        {
            var mustKeep = m.KeptBy(profile);
            if (m.Text is null)
            {
                // 2-byte binary values cannot be found by a byte scan; read them back instead.
                var before = original.GetBytes(m.Tag).ToArray();
                var after = readBack.Contains(m.Tag) ? readBack.GetBytes(m.Tag).ToArray() : null;
                if (mustKeep) Assert.Equal(before, after);
                else if (after is not null && after.AsSpan().SequenceEqual(before)) leaked.Add($"{m.Tag} {m.Keyword} (binary) kept");
                continue;
            }
            var hits = CountHits(bytes, m.Text);
            if (mustKeep)
            {
                Assert.True(hits > 0, $"{m.Tag} {m.Keyword} should be kept by '{options}' but its marker '{m.Text}' is gone");
                kept++;
            }
            else if (hits > 0)
            {
                leaked.Add($"{m.Tag} {m.Keyword} {m.Vr} action {m.ActionUnder(profile)}: '{m.Text}' found {hits}x");
            }
        }
        var (scanLeaked, scanMissing) = ProfileMarkers.Scan(bytes, markers, profile);
        Assert.Empty(scanMissing);
        Assert.Equal(leaked.Count(l => !l.Contains("(binary)")), scanLeaked.Count);
        output.WriteLine($"{markers.Count} markers, {kept} kept by options '{options}', {leaked.Count} leaked, file {bytes.Length} bytes");
        Assert.True(leaked.Count == 0, string.Join("\n", leaked));
        Assert.True(CountHits(bytes, pid) == 0, "the original Patient ID survived");
        Assert.Equal("YES", readBack.GetString(DicomTag.PatientIdentityRemoved));
        if (options == "none")
            Assert.Equal(0, kept);
        else
            Assert.True(kept >= 20, $"only {kept} markers kept; the Retain options should keep patient characteristics and times");
    }

    [Fact]
    public void Retained_options_keep_age_and_sex_and_record_the_method_with_CID_7050_codes()
    {
        var ds = CtInstance("PAT-1", "20240305");
        ds.SetString(DicomTag.PatientSex, "F");
        ds.SetString(DicomTag.PatientBirthDate, "19500301");
        var result = new DicomDeidentifier(new DeidentificationProfile(), Site(1)).Deidentify(ds).Dataset;
        Assert.Equal("F", result.GetString(DicomTag.PatientSex));
        Assert.Equal("074Y", result.GetString(DicomTag.PatientAge)); // derived before Birth Date was removed
        Assert.Equal("", result.GetString(DicomTag.PatientBirthDate));
        Assert.Equal("MODIFIED", result.GetString(DicomTag.LongitudinalTemporalInformationModified));
        var codes = result.GetSequence(DicomTag.DeidentificationMethodCodeSequence)!.Items.Select(i => i.GetString(DicomTag.CodeValue)).ToList();
        Assert.Equal(["113100", "113105", "113107", "113108"], codes);
        Assert.All(result.GetSequence(DicomTag.DeidentificationMethodCodeSequence)!.Items, i => Assert.Equal("DCM", i.GetString(DicomTag.CodingSchemeDesignator)));
        Assert.Contains("Basic Application Confidentiality Profile", result.GetStrings(DicomTag.DeidentificationMethod));
    }

    [Fact]
    public void Ages_over_89_are_recorded_as_90()
    {
        var ds = CtInstance("PAT-OLD", "20240305");
        ds.SetString(DicomTag.PatientAge, "097Y");
        Assert.Equal("090Y", new DicomDeidentifier(new DeidentificationProfile(), Site(1)).Deidentify(ds).Dataset.GetString(DicomTag.PatientAge));
    }

    [Fact]
    public void Date_shift_is_the_same_for_every_date_of_a_patient_so_intervals_survive()
    {
        var deid = new DicomDeidentifier(new DeidentificationProfile(), Site(2));
        var first = CtInstance("PAT-77", "20230110");
        first.SetString(DicomTag.AcquisitionDateTime, "20230110083015.250000");
        var second = CtInstance("PAT-77", "20240229");
        var other = CtInstance("PAT-78", "20230110");

        var a = deid.Deidentify(first);
        var b = deid.Deidentify(second);
        var c = deid.Deidentify(other);
        var da = DicomDate.Parse(a.Dataset.GetString(DicomTag.StudyDate))!.Value;
        var db = DicomDate.Parse(b.Dataset.GetString(DicomTag.StudyDate))!.Value;
        Assert.NotEqual(new DateOnly(2023, 1, 10), da);
        Assert.Equal(new DateOnly(2024, 2, 29).DayNumber - new DateOnly(2023, 1, 10).DayNumber, db.DayNumber - da.DayNumber);
        Assert.Equal(a.DateShiftDays, b.DateShiftDays);
        Assert.NotEqual(a.DateShiftDays, c.DateShiftDays);
        Assert.Equal(a.Dataset.GetString(DicomTag.StudyDate) + "083015.250000", a.Dataset.GetString(DicomTag.AcquisitionDateTime));
        Assert.Equal("083015", a.Dataset.GetString(DicomTag.StudyTime)); // whole-day shift keeps the time
    }

    [Fact]
    public async Task Uid_mapping_is_stable_across_runs_keeps_series_structure_and_differs_across_sites()
    {
        var instances = CtSeriesWriter.CreateInstances(new Volume(3, 8, 8), new CtSeriesOptions
        {
            PatientName = "Abernathy^Thaddeus",
            PatientId = "00482913",
            AccessionNumber = "ACC20240305",
            StudyDescription = "CT CHEST",
            StudyDateTime = new DateTime(2024, 3, 5, 9, 15, 0),
            InstitutionName = "Northgate General Hospital",
        });
        var siteA1 = new DicomDeidentifier(new DeidentificationProfile(), Site(1));
        var siteA2 = new DicomDeidentifier(new DeidentificationProfile(), Site(1)); // a later run: new objects, same secret
        var siteB = new DicomDeidentifier(new DeidentificationProfile(), Site(2));
        var a1 = instances.Select(i => siteA1.Deidentify(i)).ToList();
        var a2 = instances.Select(i => siteA2.Deidentify(i)).ToList();
        var b = instances.Select(i => siteB.Deidentify(i)).ToList();

        Assert.Equal(a1.Select(x => x.SopInstanceUid), a2.Select(x => x.SopInstanceUid));
        Assert.Single(a1.Select(x => x.SeriesInstanceUid).Distinct());
        Assert.Single(a1.Select(x => x.StudyInstanceUid).Distinct());
        Assert.Equal(3, a1.Select(x => x.SopInstanceUid).Distinct().Count());
        Assert.Single(a1.Select(x => x.Dataset.GetString(DicomTag.FrameOfReferenceUID)).Distinct());
        Assert.NotEqual(instances[0].GetString(DicomTag.StudyInstanceUID), a1[0].StudyInstanceUid);
        Assert.Empty(a1.Select(x => x.SopInstanceUid).Intersect(b.Select(x => x.SopInstanceUid)));
        Assert.NotEqual(a1[0].StudyInstanceUid, b[0].StudyInstanceUid);
        Assert.Equal(Site(1).AccessionNumber("ACC20240305"), a1[0].PseudonymousAccessionNumber);

        // The written file's meta carries the new SOP Instance UID, not the original.
        var bytes = new DicomFile(a1[0].Dataset).ToBytes();
        Assert.Equal(a1[0].SopInstanceUid, DicomFile.Read(bytes).FileMetaInformation.GetString(DicomTag.MediaStorageSOPInstanceUID));
        foreach (var identifying in new[] { "Abernathy", "00482913", "ACC20240305", "Northgate", instances[0].GetString(DicomTag.SOPInstanceUID)!, "20240305" })
            Assert.Equal(0, CountHits(bytes, identifying));
        await Task.CompletedTask;
    }

    [Fact]
    public void Clean_descriptors_keeps_clinical_words_and_removes_names_and_identifiers()
    {
        var ds = CtInstance("00482913", "20240305");
        ds.SetString(DicomTag.PatientName, "Abernathy^Thaddeus");
        ds.SetString(DicomTag.StudyDescription, "CT CHEST WITH CONTRAST");
        ds.SetString(DicomTag.SeriesDescription, "Abernathy 00482913 LUNG 1mm");
        var result = new DicomDeidentifier(new DeidentificationProfile(), Site(1)).Deidentify(ds).Dataset;
        Assert.Equal("CT CHEST WITH CONTRAST", result.GetString(DicomTag.StudyDescription));
        Assert.Equal("[NAME] [ID] LUNG 1mm", result.GetString(DicomTag.SeriesDescription));

        var basic = new DicomDeidentifier(DeidentificationProfile.Parse("none"), Site(1)).Deidentify(ds).Dataset;
        Assert.False(basic.Contains(DicomTag.StudyDescription));
    }

    [Fact]
    public void Private_attributes_are_removed_unless_allow_listed_with_their_creator()
    {
        var ds = CtInstance("P1", "20240305");
        ds.SetString(new DicomTag(0x0019, 0x0010), "ACME CT 1.0", DicomVR.LO);
        ds.SetString(new DicomTag(0x0019, 0x1001), "kernel-hint", DicomVR.LO);
        ds.SetString(new DicomTag(0x0019, 0x1002), "operator Jane", DicomVR.LO);
        ds.SetString(new DicomTag(0x0029, 0x0010), "OTHER", DicomVR.LO);
        ds.SetString(new DicomTag(0x0029, 0x1001), "x", DicomVR.LO);

        var none = new DicomDeidentifier(new DeidentificationProfile(), Site(1)).Deidentify(ds).Dataset;
        Assert.DoesNotContain(none, e => e.Tag.IsPrivate);

        var allowed = new DicomDeidentifier(new DeidentificationProfile { PrivateAttributeAllowList = ["ACME CT 1.0:0019,xx01"] }, Site(1)).Deidentify(ds).Dataset;
        Assert.Equal("kernel-hint", allowed.GetString(new DicomTag(0x0019, 0x1001)));
        Assert.Equal("ACME CT 1.0", allowed.GetString(new DicomTag(0x0019, 0x0010)));
        Assert.False(allowed.Contains(new DicomTag(0x0019, 0x1002)));
        Assert.False(allowed.Contains(new DicomTag(0x0029, 0x1001)));
    }

    [Theory]
    [InlineData("MR", null, null, RefusalReason.Modality)]
    [InlineData("CT", "YES", null, RefusalReason.BurnedInAnnotation)]
    [InlineData("CT", null, "1.2.840.10008.5.1.4.1.1.7", RefusalReason.SecondaryCapture)]
    public void Unsafe_instances_are_refused_with_a_reason(string modality, string? burnedIn, string? sopClass, RefusalReason reason)
    {
        var ds = CtInstance("P1", "20240305");
        ds.SetString(DicomTag.Modality, modality);
        if (burnedIn is not null) ds.SetString(DicomTag.BurnedInAnnotation, burnedIn);
        if (sopClass is not null) ds.SetUid(DicomTag.SOPClassUID, sopClass);
        var e = Assert.Throws<DeidentificationRefusedException>(() => new DicomDeidentifier(new DeidentificationProfile(), Site(1)).Deidentify(ds));
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void Refusals_are_configurable()
    {
        var ds = CtInstance("P1", "20240305");
        ds.SetString(DicomTag.BurnedInAnnotation, "YES");
        var profile = new DeidentificationProfile { RefuseBurnedInAnnotation = false };
        Assert.Equal("YES", new DicomDeidentifier(profile, Site(1)).Deidentify(ds).Dataset.GetString(DicomTag.BurnedInAnnotation));
    }

    [Fact]
    public async Task Dcmdump_reads_every_de_identified_file_without_warnings()
    {
        using var dir = new Scratch("gct-deid");
        var keys = Site(5);
        var files = new List<string>();
        foreach (var options in new[] { "retain-characteristics,modified-dates,clean-descriptors", "none" })
        {
            var (marker, _) = ProfileMarkers.Build();
            marker.SetString(DicomTag.PatientID, "PAT-DCMDUMP", DicomVR.LO);
            var path = dir.Combine($"markers-{files.Count}.dcm");
            await new DicomFile(new DicomDeidentifier(DeidentificationProfile.Parse(options), keys).Deidentify(marker).Dataset).SaveAsync(path);
            files.Add(path);
        }
        var series = CtSeriesWriter.CreateInstances(new Volume(2, 8, 8), new CtSeriesOptions { PatientName = "Doe^Jane", PatientId = "123", AccessionNumber = "A1", InstitutionName = "Clinic" });
        foreach (var inst in series)
        {
            var path = dir.Combine($"ct-{files.Count}.dcm");
            await new DicomFile(new DicomDeidentifier(new DeidentificationProfile(), keys).Deidentify(inst).Dataset).SaveAsync(path);
            files.Add(path);
        }
        foreach (var f in files)
        {
            var r = await DcmtkTool.RunAsync("dcmdump", [f]);
            Assert.True(r.ExitCode == 0 && r.WarningsAndErrors.Count == 0, $"{Path.GetFileName(f)}: exit {r.ExitCode}\n{string.Join('\n', r.WarningsAndErrors)}");
            Assert.Contains("(0012,0062) CS [YES]", r.StandardOutput);
        }
    }

    internal static DicomDataset CtInstance(string patientId, string studyDate)
    {
        var ds = new DicomDataset();
        ds.SetUid(DicomTag.SOPClassUID, DicomUid.CTImageStorage);
        ds.SetUid(DicomTag.SOPInstanceUID, DicomUid.Generate());
        ds.SetUid(DicomTag.StudyInstanceUID, DicomUid.Generate());
        ds.SetUid(DicomTag.SeriesInstanceUID, DicomUid.Generate());
        ds.SetString(DicomTag.Modality, "CT");
        ds.SetString(DicomTag.PatientID, patientId);
        ds.SetString(DicomTag.PatientName, "Doe^Jane");
        ds.SetString(DicomTag.StudyDate, studyDate);
        ds.SetString(DicomTag.StudyTime, "083015");
        ds.SetString(DicomTag.AccessionNumber, "ACC" + patientId);
        return ds;
    }

    internal static int CountHits(byte[] haystack, string needle)
    {
        var n = Encoding.ASCII.GetBytes(needle);
        var count = 0;
        var span = haystack.AsSpan();
        int at;
        while ((at = span.IndexOf(n)) >= 0)
        {
            count++;
            span = span[(at + n.Length)..];
        }
        return count;
    }
}
