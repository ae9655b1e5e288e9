using System.Buffers.Binary;
using GenerateCT.Dicom.Network;

namespace GenerateCT.Dicom.Tests;

/// <summary>The broken-file corpus: every input is refused with a clear error, and the SCP keeps serving.</summary>
public class BrokenInputTests
{
    /// <summary>A named corruption of a valid Explicit VR LE data set (bytes after the meta header), and what the error must say.</summary>
    public static TheoryData<string> Corpus => new(BrokenCorpus.Names);

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Broken_file_is_refused_with_an_error_naming_the_problem(string name)
    {
        var (bytes, expected) = BrokenCorpus.File(name);
        var ex = Assert.ThrowsAny<DicomParseException>(() => DicomFile.Read(bytes, new DicomReadOptions { MaxInflatedBytes = 1 << 20 }));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Garbage_instead_of_the_DICM_prefix_is_refused()
    {
        var bytes = BrokenCorpus.ValidFile();
        "JUNK"u8.CopyTo(bytes.AsSpan(128));
        var ex = Assert.Throws<DicomParseException>(() => DicomFile.Read(bytes));
        Assert.Contains("DICM", ex.Message);
        Assert.Throws<DicomParseException>(() => DicomFile.Read(bytes.AsMemory(0, 100)));
    }

    [Fact]
    public async Task CStore_of_each_broken_data_set_is_refused_and_quarantined_and_the_listener_keeps_serving()
    {
        await using var scp = await ScpHarness.StartAsync();
        var good = SampleData.CtSeries(depth: 2, size: 16);
        await using var client = await DicomClient.ConnectForFilesAsync(scp.ClientOptions(), [new DicomFile(good[0])]);
        var names = BrokenCorpus.Names.Where(n => n != "deflate bomb").ToList();
        foreach (var name in names)
        {
            var (dataset, sopInstance, expected) = BrokenCorpus.Dataset(name);
            var status = await client.StoreRawAsync(DicomUid.CTImageStorage, sopInstance, dataset);
            Assert.True(status.Code == 0xC000, $"{name}: {status}");
            Assert.Contains(expected[..Math.Min(expected.Length, 20)], status.ErrorComment ?? string.Empty);
        }

        // A data set that parses but names another instance than its command: 0xA900.
        var other = new DicomFile(good[1]);
        var mismatch = await client.StoreRawAsync(DicomUid.CTImageStorage, DicomUid.Generate(), DicomClient.Encode(other.Dataset, DicomTransferSyntax.ExplicitVRLittleEndian));
        Assert.Equal(0xA900, mismatch.Code);

        // Valid instances on the same association are stored.
        Assert.True((await client.StoreAsync(new DicomFile(good[0]))).IsSuccess);
        Assert.True((await client.StoreAsync(other)).IsSuccess);
        Assert.Equal(2, scp.StoredFiles().Length);

        var reasons = Directory.GetFiles(scp.Quarantine, "*.reason.txt");
        Assert.Equal(names.Count + 1, reasons.Length);
        Assert.Equal(names.Count + 1, Directory.GetFiles(scp.Quarantine, "*.dcm").Length);
        Assert.All(reasons, r => Assert.StartsWith("reason: ", File.ReadAllText(r)));

        await client.ReleaseAsync();
        var e = await scp.WaitForEventAsync(x => x.Outcome == DicomAssociationOutcome.Released);
        Assert.Equal(2, e.InstancesStored);
        Assert.Equal(names.Count + 1, e.InstancesFailed);
        Assert.True((await DicomClient.EchoAsync(scp.ClientOptions())).IsSuccess);
    }

    [Fact]
    public async Task A_peer_that_declares_a_huge_PDU_is_aborted_and_others_are_still_served()
    {
        await using var scp = await ScpHarness.StartAsync();
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync("127.0.0.1", scp.Port);
            var header = new byte[6];
            header[0] = 0x01;
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(2), 0xFFFFFFF0);
            await tcp.GetStream().WriteAsync(header);
            var answer = new byte[10];
            int n = await tcp.GetStream().ReadAsync(answer);
            Assert.True(n >= 1 && answer[0] == 0x07, "expected A-ABORT");
        }

        await scp.WaitForEventAsync(x => x.Outcome == DicomAssociationOutcome.Aborted);
        Assert.True((await DicomClient.EchoAsync(scp.ClientOptions())).IsSuccess);
    }
}

/// <summary>Builds the broken inputs from a valid CT instance.</summary>
internal static class BrokenCorpus
{
    public static readonly string[] Names =
    [
        "truncated", "wrong length", "bad VR", "huge declared length", "deep nesting", "odd length",
        "garbage data set", "bad item in sequence", "deflate bomb",
    ];

    public static byte[] ValidFile() => new DicomFile(SampleData.CtSeries(depth: 1, size: 16)[0]).ToBytes();

    /// <summary>(data set bytes in Explicit VR LE, its SOP Instance UID, a phrase the error must contain).</summary>
    public static (byte[] Dataset, string SopInstance, string Expected) Dataset(string name)
    {
        var ds = SampleData.CtSeries(depth: 1, size: 16)[0];
        var uid = ds.GetUid(DicomTag.SOPInstanceUID)!;
        byte[] bytes = DicomClient.Encode(ds, DicomTransferSyntax.ExplicitVRLittleEndian).ToArray();
        switch (name)
        {
            case "truncated":
                return (bytes[..(bytes.Length - 100)], uid, "declares 512 bytes but only");
            case "wrong length":
                {
                    int at = Find(bytes, DicomTag.PatientName, "PN");
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 6), 0x0400);
                    return (bytes, uid, "element (0010,0010) PN declares 1024 bytes");
                }

            case "bad VR":
                {
                    int at = Find(bytes, DicomTag.PatientName, "PN");
                    bytes[at + 4] = (byte)'Q';
                    bytes[at + 5] = (byte)'Z';
                    return (bytes, uid, "invalid VR bytes 0x51 0x5A in element (0010,0010)");
                }

            case "huge declared length":
                {
                    int at = Find(bytes, DicomTag.PixelData, "OW");
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 8), 0xFFFFFFF0);
                    return (bytes, uid, "declares 4294967280 bytes");
                }

            case "deep nesting":
                {
                    var inner = new DicomDataset();
                    for (int i = 0; i < 100; i++)
                    {
                        var outer = new DicomDataset();
                        outer.SetSequence(DicomTag.ReferencedImageSequence, inner);
                        inner = outer;
                    }

                    ds.Add(inner.GetSequence(DicomTag.ReferencedImageSequence)!);
                    return (DicomClient.Encode(ds, DicomTransferSyntax.ExplicitVRLittleEndian).ToArray(), uid, "nests deeper than 32 levels");
                }

            case "odd length":
                {
                    int at = Find(bytes, DicomTag.Modality, "CS");
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 6), 1);
                    return (bytes, uid, "odd length 1");
                }

            case "garbage data set":
                {
                    var junk = new byte[4096];
                    new Random(7).NextBytes(junk);
                    return (junk, uid, "offset");
                }

            case "bad item in sequence":
                {
                    var item = new DicomDataset();
                    item.SetString(DicomTag.CodeValue, "X");
                    ds.SetSequence(DicomTag.ReferencedImageSequence, item);
                    var b = DicomClient.Encode(ds, DicomTransferSyntax.ExplicitVRLittleEndian).ToArray();
                    int at = Find(b, DicomTag.ReferencedImageSequence, "SQ");
                    b[at + 12 + 2] = 0x00; // item tag (FFFE,E000) → (FFFE,0000)
                    b[at + 12 + 3] = 0x00;
                    return (b, uid, "expected an item (FFFE,E000)");
                }

            case "deflate bomb":
                return (bytes, uid, "deflate bomb");
            default:
                throw new ArgumentOutOfRangeException(nameof(name));
        }
    }

    /// <summary>A Part 10 file carrying the broken data set.</summary>
    public static (byte[] File, string Expected) File(string name)
    {
        if (name == "deflate bomb")
        {
            var ds = SampleData.CtSeries(depth: 1, size: 16)[0];
            ds.SetBytes(DicomTag.PixelData, DicomVR.OW, new byte[8 << 20]); // 8 MiB of zeros deflate to a few KiB
            return (new DicomFile(ds, DicomTransferSyntax.DeflatedExplicitVRLittleEndian).ToBytes(), "deflate bomb");
        }

        var (dataset, _, expected) = Dataset(name);
        var valid = ValidFile();
        var file = DicomFile.Read(valid);
        int metaEnd = valid.Length - DicomClient.Encode(file.Dataset, DicomTransferSyntax.ExplicitVRLittleEndian).Length;
        return ([.. valid[..metaEnd], .. dataset], expected);
    }

    private static int Find(byte[] bytes, DicomTag tag, string vr)
    {
        var pattern = new byte[6];
        BinaryPrimitives.WriteUInt16LittleEndian(pattern, tag.Group);
        BinaryPrimitives.WriteUInt16LittleEndian(pattern.AsSpan(2), tag.Element);
        pattern[4] = (byte)vr[0];
        pattern[5] = (byte)vr[1];
        int at = bytes.AsSpan().IndexOf(pattern);
        return at >= 0 ? at : throw new InvalidOperationException($"{tag} {vr} not found");
    }
}
