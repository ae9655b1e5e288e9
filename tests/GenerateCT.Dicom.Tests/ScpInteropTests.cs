using System.Globalization;
using GenerateCT.Dicom.Network;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

/// <summary>dcmtk's echoscu and storescu against our SCP.</summary>
public class ScpInteropTests
{
    [Fact]
    public async Task Echoscu_verifies_our_SCP()
    {
        await using var scp = await ScpHarness.StartAsync();
        var r = await DcmtkTool.RunAsync("echoscu", ["-aet", "ECHOER", "-aec", "GCT", "127.0.0.1", Port(scp)]);
        Assert.True(r.ExitCode == 0, r.Output);
        var e = await scp.WaitForEventAsync(x => x.Outcome == DicomAssociationOutcome.Released);
        Assert.Equal("ECHOER", e.CallingAeTitle);
        Assert.Equal("OFFIS_DCMTK_367", e.Association!.PeerImplementationVersionName);
    }

    [Theory]
    [InlineData("-xi", "1.2.840.10008.1.2")]
    [InlineData("-xe", "1.2.840.10008.1.2.1")]
    [InlineData("-xd", "1.2.840.10008.1.2.1.99")]
    public async Task Storescu_pushes_a_CT_series_and_every_instance_arrives_identical(string proposeFlag, string expectedSyntax)
    {
        await using var scp = await ScpHarness.StartAsync(o => o.MaxPduLength = 8192); // forces P-DATA fragmentation
        var series = SampleData.CtSeries(depth: 5, size: 48);
        var sendDir = Path.Combine(scp.Scratch, "send");
        Directory.CreateDirectory(sendDir);
        foreach (var ds in series)
        {
            await new DicomFile(ds).SaveAsync(Path.Combine(sendDir, ds.GetUid(DicomTag.SOPInstanceUID) + ".dcm"));
        }

        var r = await DcmtkTool.RunAsync("storescu", [proposeFlag, "-aet", "MODALITY", "-aec", "GCT", "+sd", "127.0.0.1", Port(scp), sendDir]);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Empty(r.WarningsAndErrors);

        var stored = scp.StoredFiles();
        Assert.Equal(series.Count, stored.Length);
        foreach (var ds in series)
        {
            var file = await DicomFile.OpenAsync(Path.Combine(scp.Incoming, ds.GetUid(DicomTag.SOPInstanceUID) + ".dcm"));
            Assert.Equal(expectedSyntax, file.TransferSyntax.Uid);
            Assert.Equal("MODALITY", file.FileMetaInformation.GetString(DicomTag.SourceApplicationEntityTitle));
            Assert.Null(ds.DescribeFirstDifference(file.Dataset));
        }

        var e = await scp.WaitForEventAsync(x => x.Outcome == DicomAssociationOutcome.Released);
        Assert.Equal(series.Count, e.InstancesStored);
        Assert.Empty(Directory.GetFiles(scp.Incoming, "*.tmp"));
    }

    [Fact]
    public async Task Calling_AE_not_on_the_allow_list_is_rejected_with_reason_calling_AE_not_recognized()
    {
        await using var scp = await ScpHarness.StartAsync(o => o.AllowedPeers.Add(DicomPeerRule.Parse("PACS@127.0.0.1")));
        var denied = await DcmtkTool.RunAsync("echoscu", ["-aet", "INTRUDER", "-aec", "GCT", "127.0.0.1", Port(scp)]);
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("Calling AE Title Not Recognized", denied.Output, StringComparison.OrdinalIgnoreCase);
        var e = await scp.WaitForEventAsync(x => x.Outcome == DicomAssociationOutcome.Rejected);
        Assert.Equal("INTRUDER", e.CallingAeTitle);

        var allowed = await DcmtkTool.RunAsync("echoscu", ["-aet", "PACS", "-aec", "GCT", "127.0.0.1", Port(scp)]);
        Assert.True(allowed.ExitCode == 0, allowed.Output);
    }

    [Fact]
    public async Task Allowed_AE_from_another_source_address_is_rejected()
    {
        await using var scp = await ScpHarness.StartAsync(o => o.AllowedPeers.Add(DicomPeerRule.Parse("PACS@10.1.2.0/24")));
        var ex = await Assert.ThrowsAsync<DicomAssociationRejectedException>(() => DicomClient.EchoAsync(scp.ClientOptions("PACS")));
        Assert.Equal(AssociationRejection.CallingAeNotRecognized, ex.Rejection);
    }

    [Fact]
    public async Task Wrong_called_AE_is_rejected_with_reason_called_AE_not_recognized()
    {
        await using var scp = await ScpHarness.StartAsync();
        var r = await DcmtkTool.RunAsync("echoscu", ["-aet", "X", "-aec", "SOMEONE_ELSE", "127.0.0.1", Port(scp)]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Called AE Title Not Recognized", r.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Only_decodable_transfer_syntaxes_are_accepted_so_the_peer_transcodes()
    {
        await using var scp = await ScpHarness.StartAsync();
        var opts = scp.ClientOptions();
        await using var client = await DicomClient.ConnectAsync(opts, [
            (DicomUid.CTImageStorage, [DicomTransferSyntax.Lookup("1.2.840.10008.1.2.4.90")]), // JPEG 2000 only
            (DicomUid.CTImageStorage, [DicomTransferSyntax.Lookup("1.2.840.10008.1.2.4.80"), DicomTransferSyntax.JPEGLosslessSV1]),
            ("1.2.840.10008.5.1.4.1.2.2.1", [DicomTransferSyntax.ExplicitVRLittleEndian]), // Study Root Q/R FIND: not ours
        ]);
        var pcs = client.PresentationContexts.Skip(1).ToList();
        Assert.Equal(PresentationContextResult.TransferSyntaxesNotSupported, pcs[0].Result);
        Assert.Equal(DicomTransferSyntax.JPEGLosslessSV1.Uid, pcs[1].AcceptedTransferSyntax);
        Assert.Equal(PresentationContextResult.AbstractSyntaxNotSupported, pcs[2].Result);
        Assert.True((await client.EchoAsync()).IsSuccess);
    }

    [Fact]
    public async Task Many_concurrent_associations_are_served()
    {
        await using var scp = await ScpHarness.StartAsync();
        var series = SampleData.CtSeries(depth: 12, size: 16);
        var tasks = series.Select(async ds =>
        {
            await using var c = await DicomClient.ConnectForFilesAsync(scp.ClientOptions(), [new DicomFile(ds)]);
            return await c.StoreAsync(new DicomFile(ds));
        });
        var statuses = await Task.WhenAll(tasks);
        Assert.All(statuses, s => Assert.True(s.IsSuccess, s.ToString()));
        Assert.Equal(12, scp.StoredFiles().Length);
    }

    [Fact]
    public async Task A_silent_connection_is_dropped_when_the_ARTIM_timer_expires()
    {
        await using var scp = await ScpHarness.StartAsync(o => o.ArtimTimeout = TimeSpan.FromMilliseconds(500));
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", scp.Port);
        var buffer = new byte[16];
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await tcp.GetStream().ReadAsync(buffer, guard.Token); // A-ABORT then close
        Assert.True(n == 0 || buffer[0] == 0x07);
        await scp.WaitForEventAsync(e => e.Detail?.Contains("ARTIM", StringComparison.Ordinal) == true);
        Assert.True((await DicomClient.EchoAsync(scp.ClientOptions())).IsSuccess);
    }

    private static string Port(ScpHarness scp) => scp.Port.ToString(CultureInfo.InvariantCulture);
}
