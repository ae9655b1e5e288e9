using System.Net.Sockets;
using System.Text;

namespace GenerateCT.Deid.Reports;

/// <summary>The sending side of MLLP: one framed HL7 v2 message out, its framed ACK back.</summary>
public static class MllpClient
{
    /// <returns>The acknowledgement message (MSH + MSA …) as text.</returns>
    public static async Task<string> SendAsync(string host, int port, string message, CancellationToken cancellationToken = default)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port, cancellationToken);
        var stream = tcp.GetStream();
        await stream.WriteAsync(MllpFrameReader.Frame(message), cancellationToken);
        var ack = await new MllpFrameReader(stream).ReadFrameAsync(cancellationToken)
            ?? throw new IOException($"{host}:{port} closed the MLLP connection without an acknowledgement");
        return Encoding.UTF8.GetString(ack);
    }
}
