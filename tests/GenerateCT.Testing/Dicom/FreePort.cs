using System.Net;
using System.Net.Sockets;

namespace GenerateCT.Testing.Dicom;

/// <summary>Loopback TCP ports that were free a moment ago (for peers that cannot bind port 0 themselves).</summary>
public static class FreePort
{
    public static int Next()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
