using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using GenerateCT.Deid.Reports;

namespace GenerateCT.Deid.Tests.Reports;

public sealed class MllpListenerTests
{
    private static async Task<Hl7Message> SendAsync(NetworkStream stream, MllpFrameReader reader, string message)
    {
        await stream.WriteAsync(MllpFrameReader.Frame(message));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var ack = await reader.ReadFrameAsync(cts.Token) ?? throw new InvalidOperationException("connection closed without an ACK");
        return Hl7Message.Parse(System.Text.Encoding.UTF8.GetString(ack));
    }

    [Fact]
    public async Task Oru_over_MLLP_is_handed_to_the_handler_and_acknowledged_AA_with_its_control_id()
    {
        var received = new ConcurrentQueue<RadiologyReport>();
        await using var listener = new MllpListener(new IPEndPoint(IPAddress.Loopback, 0), (m, _) =>
        {
            received.Enqueue(OruReportReader.Read(m));
            return Task.CompletedTask;
        });
        await listener.StartAsync();

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, listener.LocalEndpoint.Port);
        var stream = client.GetStream();
        var reader = new MllpFrameReader(stream);

        var ack = await SendAsync(stream, reader, Hl7MessageTests.Oru);
        Assert.Equal("ACK", ack.MessageCode);
        Assert.Equal("AA", ack.Get("MSA", 1));
        Assert.Equal("CTRL0001", ack.Get("MSA", 2));
        Assert.Equal("GCT", ack.Get("MSH", 3)); // sender and receiver swapped
        Assert.Equal("RIS", ack.Get("MSH", 5));

        // A second message on the same connection.
        var ack2 = await SendAsync(stream, reader, Hl7MessageTests.Oru.Replace("CTRL0001", "CTRL0002"));
        Assert.Equal("CTRL0002", ack2.Get("MSA", 2));
        Assert.Equal(2, received.Count);
        Assert.Equal("ACC20240305", received.First().AccessionNumber);
    }

    [Fact]
    public async Task Wrong_message_type_is_answered_AR_and_handler_failure_AE()
    {
        await using var listener = new MllpListener(new IPEndPoint(IPAddress.Loopback, 0), (m, _) =>
        {
            if (m.ControlId == "BOOM")
                throw new IOException("report store is full");
            OruReportReader.Read(m);
            return Task.CompletedTask;
        });
        await listener.StartAsync();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, listener.LocalEndpoint.Port);
        var stream = client.GetStream();
        var reader = new MllpFrameReader(stream);

        var ar = await SendAsync(stream, reader, "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|ADT1|P|2.5.1\rPID|1||X\r");
        Assert.Equal("AR", ar.Get("MSA", 1));
        Assert.Equal("ADT1", ar.Get("MSA", 2));
        Assert.Contains("ORU^R01", ar.Get("MSA", 3));
        Assert.NotNull(ar.Segment("ERR"));

        var ae = await SendAsync(stream, reader, Hl7MessageTests.Oru.Replace("CTRL0001", "BOOM"));
        Assert.Equal("AE", ae.Get("MSA", 1));
        Assert.Contains("report store is full", ae.Get("MSA", 3));

        var garbage = await SendAsync(stream, reader, "this is not HL7");
        Assert.Equal("AR", garbage.Get("MSA", 1));
    }

    [Fact]
    public async Task Bytes_before_the_start_block_are_skipped_and_a_frame_split_across_writes_is_reassembled()
    {
        var got = new TaskCompletionSource<Hl7Message>();
        await using var listener = new MllpListener(new IPEndPoint(IPAddress.Loopback, 0), (m, _) =>
        {
            got.TrySetResult(m);
            return Task.CompletedTask;
        });
        await listener.StartAsync();
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, listener.LocalEndpoint.Port);
        var stream = client.GetStream();
        var framed = MllpFrameReader.Frame(Hl7MessageTests.Oru);
        await stream.WriteAsync("\r\n"u8.ToArray());
        await stream.WriteAsync(framed.AsMemory(0, 40));
        await Task.Delay(50);
        await stream.WriteAsync(framed.AsMemory(40));
        var m = await got.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("CTRL0001", m.ControlId);
    }
}
