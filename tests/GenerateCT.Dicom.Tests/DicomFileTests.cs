using GenerateCT.Testing;
using System.Text;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

public class DicomFileTests
{
    public static TheoryData<string> WritableSyntaxes => new()
    {
        DicomTransferSyntax.ImplicitVRLittleEndian.Uid,
        DicomTransferSyntax.ExplicitVRLittleEndian.Uid,
        DicomTransferSyntax.DeflatedExplicitVRLittleEndian.Uid,
    };

    [Theory]
    [MemberData(nameof(WritableSyntaxes))]
    public void Read_write_read_is_identical_for_every_VR_and_nested_sequences(string syntaxUid)
    {
        var syntax = DicomTransferSyntax.Lookup(syntaxUid);
        var original = SampleData.EveryVR();
        var bytes = new DicomFile(original, syntax).ToBytes();

        var read = DicomFile.Read(bytes);
        Assert.Equal(syntax, read.TransferSyntax);
        Assert.Null(original.DescribeFirstDifference(read.Dataset));
        var again = DicomFile.Read(new DicomFile(read.Dataset, syntax).ToBytes());
        Assert.Null(read.Dataset.DescribeFirstDifference(again.Dataset));

        // Typed values survive.
        Assert.Equal("Müller^José=张^三", again.Dataset.GetString(DicomTag.PatientName));
        Assert.Equal(-5_000_000_000, again.Dataset.GetInt64(DicomTag.SelectorSVValue));
        Assert.Equal(70000, again.Dataset.GetInt32(DicomTag.SimpleFrameList, 2));
        Assert.Equal(-300.125, again.Dataset.GetDouble(DicomTag.ImagePositionPatient, 2));
        Assert.Equal("smoker \\ 20 py", again.Dataset.GetStrings(DicomTag.AdditionalPatientHistory).Single());
        var item = again.Dataset.GetSequence(DicomTag.AnatomicRegionSequence)!.Items[0];
        Assert.Equal("Ökologie", item.GetSequence(DicomTag.ConceptNameCodeSequence)!.Items[0].GetString(DicomTag.CodeMeaning));
        Assert.Empty(again.Dataset.GetSequence(DicomTag.ReferencedImageSequence)!.Items);
        Assert.Equal(new byte[] { 1, 2, 3, 0 }, again.Dataset.GetBytes(DicomTag.SelectorOBValue).ToArray());
    }

    [Fact]
    public void Implicit_VR_reads_unknown_private_elements_as_UN_and_keeps_their_bytes()
    {
        var ds = SampleData.EveryVR();
        var read = DicomFile.Read(new DicomFile(ds, DicomTransferSyntax.ImplicitVRLittleEndian).ToBytes()).Dataset;
        Assert.Equal(DicomVR.UN, read[new DicomTag(0x0029, 0x1001)]!.VR);
        Assert.Equal(new byte[] { 9, 8, 7, 6 }, read.GetBytes(new DicomTag(0x0029, 0x1001)).ToArray());
    }

    [Fact]
    public async Task Explicit_VR_Big_Endian_written_by_dcmconv_reads_to_the_same_values()
    {
        using var dir = new Scratch("gct-be");
        var source = dir.Combine("le.dcm");
        var ds = SampleData.CtSeries(depth: 1, size: 8)[0];
        await new DicomFile(ds).SaveAsync(source);
        var be = dir.Combine("be.dcm");
        var conv = await DcmtkTool.RunAsync("dcmconv", ["+tb", source, be]);
        Assert.True(conv.ExitCode == 0, conv.Output);

        var read = await DicomFile.OpenAsync(be);
        Assert.Equal(DicomTransferSyntax.ExplicitVRBigEndian, read.TransferSyntax);
        Assert.Null(ds.DescribeFirstDifference(read.Dataset));
        Assert.Equal(8, read.Dataset.GetInt32(DicomTag.Rows));
    }

    [Fact]
    public void ISO_IR_100_text_decodes_as_Latin_1_and_is_written_in_Latin_1()
    {
        var ds = new DicomDataset();
        ds.SetString(DicomTag.SpecificCharacterSet, "ISO_IR 100");
        ds.SetUid(DicomTag.SOPClassUID, DicomUid.SecondaryCaptureImageStorage);
        ds.SetUid(DicomTag.SOPInstanceUID, DicomUid.Generate());
        ds.SetString(DicomTag.PatientName, "Größe^Zoë");
        Assert.Equal(Encoding.Latin1.GetBytes("Größe^Zoë "), ds.GetBytes(DicomTag.PatientName).ToArray());

        var read = DicomFile.Read(new DicomFile(ds).ToBytes()).Dataset;
        Assert.Equal("Größe^Zoë", read.GetString(DicomTag.PatientName));
    }

    [Fact]
    public void Non_ASCII_text_in_a_default_repertoire_data_set_switches_it_to_UTF_8()
    {
        var ds = new DicomDataset();
        ds.SetString(DicomTag.PatientID, "A1");
        ds.SetString(DicomTag.PatientName, "Łukasz^Żółć");
        Assert.Equal("ISO_IR 192", ds.GetString(DicomTag.SpecificCharacterSet));
        Assert.Equal(Encoding.UTF8.GetBytes("Łukasz^Żółć"), ds.GetBytes(DicomTag.PatientName).ToArray().TakeWhile(b => b != ' ').ToArray());
        Assert.Throws<ArgumentException>(() => ds.SetString(DicomTag.Modality, "ÇT"));
    }

    [Fact]
    public async Task Dcmdump_reads_our_files_without_warnings_in_every_written_syntax()
    {
        using var dir = new Scratch("gct-dump");
        foreach (var uid in WritableSyntaxes)
        {
            var path = dir.Combine(uid + ".dcm");
            await new DicomFile(SampleData.EveryVR(), DicomTransferSyntax.Lookup(uid)).SaveAsync(path);
            var dump = await DcmtkTool.RunAsync("dcmdump", ["-dc", "+E", path]);
            Assert.True(dump.ExitCode == 0, dump.Output);
            Assert.Empty(dump.WarningsAndErrors);
            Assert.True(dump.StandardOutput.Contains("(0010,0010) PN [Müller^José=张^三", StringComparison.Ordinal), dump.StandardOutput);
            Assert.Contains("ISO_IR 192", dump.StandardOutput);
        }
    }

    [Fact]
    public void Enumerating_all_elements_includes_nested_items_and_removal_works_at_any_depth()
    {
        var ds = SampleData.EveryVR();
        var all = ds.EnumerateAll();
        Assert.Contains(all, p => p.Element.Tag == DicomTag.CodeMeaning && p.Owner != ds);
        foreach (var (owner, element) in all.Where(p => p.Element.Tag == DicomTag.CodeMeaning))
        {
            owner.Remove(element.Tag);
        }

        Assert.DoesNotContain(ds.EnumerateAll(), p => p.Element.Tag == DicomTag.CodeMeaning);
        Assert.Equal(1, ds.RemoveAll(e => e.Tag.IsPrivate && !e.Tag.IsPrivateCreator));
        Assert.True(ds.Remove(DicomTag.PatientName));
        Assert.Null(ds.GetString(DicomTag.PatientName));
    }

    [Fact]
    public void Clone_is_deep()
    {
        var ds = SampleData.EveryVR();
        var copy = ds.Clone();
        copy.GetSequence(DicomTag.AnatomicRegionSequence)!.Items[0].SetString(DicomTag.CodeValue, "changed");
        Assert.Equal("T-D3000", ds.GetSequence(DicomTag.AnatomicRegionSequence)!.Items[0].GetString(DicomTag.CodeValue));
    }
}
