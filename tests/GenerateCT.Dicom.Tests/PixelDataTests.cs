using GenerateCT.Testing;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

public class PixelDataTests
{
    [Theory]
    [InlineData("dcmcrle", "+e1", "1.2.840.10008.1.2.5")]       // RLE Lossless (flag ignored, harmless)
    [InlineData("dcmcjpeg", "+e1", "1.2.840.10008.1.2.4.70")]   // JPEG Lossless SV1
    public async Task Compressed_pixel_data_from_dcmtk_decodes_to_the_original_pixels(string tool, string flag, string expectedSyntax)
    {
        using var dir = new Scratch("gct-px");
        var ds = SampleData.CtSeries(depth: 1, size: 40)[0]; // 40 is not a multiple of 8: exercises partial JPEG blocks
        var native = dir.Combine("native.dcm");
        await new DicomFile(ds).SaveAsync(native);
        var compressed = dir.Combine("compressed.dcm");
        var args = tool == "dcmcrle" ? new[] { native, compressed } : new[] { flag, native, compressed };
        var run = await DcmtkTool.RunAsync(tool, args);
        Assert.True(run.ExitCode == 0, run.Output);

        var file = await DicomFile.OpenAsync(compressed);
        Assert.Equal(expectedSyntax, file.TransferSyntax.Uid);
        var fragments = Assert.IsType<DicomFragmentSequence>(file.Dataset[DicomTag.PixelData]);
        Assert.NotEmpty(fragments.Fragments);

        var decoded = DicomPixelData.GetFrame(file.Dataset, file.TransferSyntax);
        Assert.Equal(ds.GetBytes(DicomTag.PixelData).ToArray(), decoded);
        var values = DicomPixelData.GetStoredValues(file.Dataset, file.TransferSyntax);
        Assert.Equal(-1000, values[0]);

        // Encapsulated round trip: read → write → read is identical, and dcmdump accepts our encoding.
        var rewritten = dir.Combine("rewritten.dcm");
        await file.SaveAsync(rewritten);
        var again = await DicomFile.OpenAsync(rewritten);
        Assert.Null(file.Dataset.DescribeFirstDifference(again.Dataset));
        var dump = await DcmtkTool.RunAsync("dcmdump", ["+E", rewritten]);
        Assert.True(dump.ExitCode == 0, dump.Output);
        Assert.Empty(dump.WarningsAndErrors);

        // The decompressed copy is a valid native file.
        var plain = new DicomFile(DicomPixelData.Decompress(file.Dataset, file.TransferSyntax));
        Assert.Equal(ds.GetBytes(DicomTag.PixelData).ToArray(), DicomFile.Read(plain.ToBytes()).Dataset.GetBytes(DicomTag.PixelData).ToArray());
    }

    [Fact]
    public async Task JPEG_LS_pixel_data_is_refused_with_a_clear_error()
    {
        using var dir = new Scratch("gct-jls");
        var native = dir.Combine("native.dcm");
        await new DicomFile(SampleData.CtSeries(depth: 1, size: 16)[0]).SaveAsync(native);
        var jls = dir.Combine("jls.dcm");
        var run = await DcmtkTool.RunAsync("dcmcjpls", [native, jls]);
        Assert.True(run.ExitCode == 0, run.Output);

        var file = await DicomFile.OpenAsync(jls); // the data set itself parses
        Assert.False(file.TransferSyntax.CanDecode);
        var ex = Assert.Throws<DicomNotSupportedException>(() => DicomPixelData.GetFrame(file.Dataset, file.TransferSyntax));
        Assert.Contains("JPEG-LS", ex.Message);
        Assert.Contains("transcode", ex.Message);
    }

    [Fact]
    public void Multi_frame_fragments_are_split_by_the_basic_offset_table()
    {
        var f = new DicomFragmentSequence(DicomTag.PixelData, DicomVR.OB, [0, 20], [new byte[] { 1, 2 }, new byte[] { 3, 4 }, new byte[] { 5, 6 }]);
        var frames = f.GetFrames(2);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, frames[0]);
        Assert.Equal(new byte[] { 5, 6 }, frames[1]);
        var noTable = new DicomFragmentSequence(DicomTag.PixelData, DicomVR.OB, [], [new byte[] { 1, 2 }, new byte[] { 3, 4 }]);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, noTable.GetFrames(1)[0]);
        Assert.Equal(new byte[] { 3, 4 }, noTable.GetFrames(2)[1]);
    }
}
