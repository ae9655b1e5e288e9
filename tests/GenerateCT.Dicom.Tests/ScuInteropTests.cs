using GenerateCT.Testing;
using GenerateCT.Dicom.Network;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

/// <summary>Our SCU against dcmtk's storescp and Orthanc; Orthanc against our SCP (the PACS case).</summary>
public class ScuInteropTests
{
    [Fact]
    public async Task Our_SCU_stores_a_series_into_storescp_byte_identical_after_re_encoding()
    {
        using var dir = new Scratch("gct-scu");
        using var storescp = await StorescpProcess.StartAsync(dir.Combine("out"), extraArguments: ["--max-pdu", "4096"]);
        var files = SampleData.CtSeries(depth: 4, size: 40).Select(ds => new DicomFile(ds)).ToList();
        var options = new DicomClientOptions { Host = "127.0.0.1", Port = storescp.Port, CalledAeTitle = storescp.AeTitle, CallingAeTitle = "GCT" };
        await using (var client = await DicomClient.ConnectForFilesAsync(options, files))
        {
            Assert.Equal(4096u, client.PeerMaxPduLength);
            Assert.True((await client.EchoAsync()).IsSuccess);
            foreach (var f in files)
            {
                var status = await client.StoreAsync(f);
                Assert.True(status.IsSuccess, status.ToString());
            }
        }

        var received = Directory.GetFiles(storescp.OutputDirectory);
        Assert.Equal(files.Count, received.Length);
        foreach (var path in received)
        {
            var got = await DicomFile.OpenAsync(path);
            var sent = files.Single(f => f.Dataset.GetUid(DicomTag.SOPInstanceUID) == got.Dataset.GetUid(DicomTag.SOPInstanceUID));
            Assert.Null(sent.Dataset.DescribeFirstDifference(got.Dataset));
        }
    }

    [Fact]
    public async Task Orthanc_receives_from_our_SCU_and_pushes_a_study_back_to_our_SCP()
    {
        await using var scp = await ScpHarness.StartAsync(o => o.AllowedPeers.Add(DicomPeerRule.Parse("ORTHANC@127.0.0.1")));
        using var orthanc = await OrthancProcess.StartAsync(new Dictionary<string, (string, int)> { ["gct"] = ("GCT", scp.Port) });

        // Our SCU → Orthanc, confirmed through its REST API.
        var files = SampleData.CtSeries(depth: 3, size: 32).Select(ds => new DicomFile(ds)).ToList();
        var options = new DicomClientOptions { Host = "127.0.0.1", Port = orthanc.DicomPort, CalledAeTitle = orthanc.AeTitle, CallingAeTitle = "GCTSCU" };
        await using (var client = await DicomClient.ConnectForFilesAsync(options, files))
        {
            foreach (var f in files)
            {
                Assert.True((await client.StoreAsync(f)).IsSuccess);
            }
        }

        var instances = (await orthanc.GetJsonAsync("instances")).AsArray();
        Assert.Equal(3, instances.Count);
        var studies = (await orthanc.GetJsonAsync("studies")).AsArray();
        var study = Assert.Single(studies)!.GetValue<string>();
        var tags = await orthanc.GetJsonAsync($"studies/{study}");
        Assert.Equal(files[0].Dataset.GetUid(DicomTag.StudyInstanceUID), tags["MainDicomTags"]!["StudyInstanceUID"]!.GetValue<string>());

        // Orthanc → our SCP through /modalities/{id}/store (how a PACS pushes).
        await orthanc.StoreToModalityAsync("gct", study);
        Assert.Equal(3, scp.StoredFiles().Length);
        foreach (var f in files)
        {
            var got = await DicomFile.OpenAsync(Path.Combine(scp.Incoming, f.Dataset.GetUid(DicomTag.SOPInstanceUID) + ".dcm"));
            Assert.Equal(f.Dataset.GetBytes(DicomTag.PixelData).ToArray(), got.Dataset.GetBytes(DicomTag.PixelData).ToArray());
            Assert.Equal("Doe^Jane", got.Dataset.GetString(DicomTag.PatientName));
        }

        var e = await scp.WaitForEventAsync(x => x.Outcome == DicomAssociationOutcome.Released && x.CallingAeTitle == "ORTHANC");
        Assert.Equal(3, e.InstancesStored);
    }
}
