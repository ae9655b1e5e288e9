using System.Diagnostics;
using GenerateCT.Dicom.Imaging;

namespace GenerateCT.Dicom.Tests;

/// <summary>Files written by other implementations (pydicom's test corpus, Debian package python3-pydicom).</summary>
public class ThirdPartyFileTests
{
    private const string Corpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

    public static TheoryData<string> Readable => new(
        "CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_RLE.dcm",
        "image_dfl.dcm", "liver_1frame.dcm", "rtplan.dcm", "nested_priv_SQ.dcm", "priv_SQ.dcm", "UN_sequence.dcm", "test-SR.dcm",
        "reportsi.dcm", "rtdose_rle.dcm", "SC_rgb_rle.dcm", "SC_rgb_rle_16bit_2frame.dcm");

    [Theory]
    [MemberData(nameof(Readable))]
    public void Files_from_other_implementations_read_and_round_trip_identically(string name)
    {
        var path = Path.Combine(Corpus, name);
        if (!File.Exists(path))
        {
            Assert.Fail($"{path} missing: install the Debian package python3-pydicom");
        }

        var file = DicomFile.Read(File.ReadAllBytes(path));
        var syntax = file.TransferSyntax.IsBigEndian ? DicomTransferSyntax.ExplicitVRLittleEndian : file.TransferSyntax;
        var again = file.Dataset.Contains(DicomTag.SOPClassUID)
            ? DicomFile.Read(new DicomFile(file.Dataset, syntax).ToBytes()).Dataset
            : IO.DicomDatasetReader.Read(Network.DicomClient.Encode(file.Dataset, syntax).ToArray(), syntax.IsDeflated ? DicomTransferSyntax.ExplicitVRLittleEndian : syntax); // test fragments without SOP Class
        Assert.Null(file.Dataset.DescribeFirstDifference(again));
    }

    [Theory]
    [InlineData("MR_small.dcm")]
    [InlineData("MR_small_implicit.dcm")]
    [InlineData("MR_small_bigendian.dcm")]
    [InlineData("MR_small_RLE.dcm")]
    [InlineData("CT_small.dcm")]
    [InlineData("rtdose_rle.dcm")]
    public async Task Decoded_pixels_match_pydicom(string name)
    {
        var path = Path.Combine(Corpus, name);
        var file = await DicomFile.OpenAsync(path);
        int frames = file.Dataset.TryGetInt32(DicomTag.NumberOfFrames, out var nf) ? nf : 1;
        long sum = 0, weighted = 0;
        long index = 0;
        for (int f = 0; f < frames; f++)
        {
            foreach (var v in DicomPixelData.GetStoredValues(file.Dataset, file.TransferSyntax, f))
            {
                sum += v;
                weighted += v * (index++ % 997);
            }
        }

        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import pydicom,sys,numpy as np\na=pydicom.dcmread(sys.argv[1]).pixel_array.astype(np.int64).ravel()\nprint(a.sum(), (a*(np.arange(a.size)%997)).sum())");
        psi.ArgumentList.Add(path);
        using var p = Process.Start(psi)!;
        var output = (await p.StandardOutput.ReadToEndAsync()).Trim();
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, error);
        Assert.Equal(output, $"{sum} {weighted}");
    }

    [Theory]
    [InlineData("MR_small_jp2klossless.dcm", "JPEG 2000")]
    [InlineData("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS")]
    [InlineData("JPEG-lossy.dcm", "JPEG Extended")]
    public void Pixel_data_in_syntaxes_we_do_not_decode_is_refused_clearly(string name, string syntaxName)
    {
        var file = DicomFile.Read(File.ReadAllBytes(Path.Combine(Corpus, name)));
        var ex = Assert.Throws<DicomNotSupportedException>(() => DicomPixelData.GetFrame(file.Dataset, file.TransferSyntax));
        Assert.Contains(syntaxName, ex.Message);
    }

    [Fact]
    public async Task Our_SCU_sends_big_endian_files_as_little_endian_and_refuses_to_send_pixel_data_it_cannot_decode()
    {
        await using var scp = await ScpHarness.StartAsync();
        var be = await DicomFile.OpenAsync(Path.Combine(Corpus, "MR_small_bigendian.dcm"));
        var j2k = await DicomFile.OpenAsync(Path.Combine(Corpus, "MR_small_jp2klossless.dcm"));
        await using var client = await Network.DicomClient.ConnectForFilesAsync(scp.ClientOptions(), [be, j2k]);
        Assert.True((await client.StoreAsync(be)).IsSuccess);
        var ex = await Assert.ThrowsAsync<DicomNotSupportedException>(() => client.StoreAsync(j2k));
        Assert.Contains("transcode", ex.Message);
        var stored = await DicomFile.OpenAsync(Assert.Single(scp.StoredFiles()));
        Assert.False(stored.TransferSyntax.IsBigEndian);
        Assert.Null(be.Dataset.DescribeFirstDifference(stored.Dataset));
        Assert.True((await client.EchoAsync()).IsSuccess); // the association survives
    }

    [Theory]
    [InlineData("rtplan_truncated.dcm")]
    [InlineData("MR_truncated.dcm")]
    public void Truncated_files_from_the_corpus_are_refused(string name)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Corpus, name));
        var ex = Record.Exception(() =>
        {
            var f = DicomFile.Read(bytes);
            DicomPixelData.GetFrame(f.Dataset, f.TransferSyntax);
        });
        Assert.IsAssignableFrom<DicomParseException>(ex);
    }
}
