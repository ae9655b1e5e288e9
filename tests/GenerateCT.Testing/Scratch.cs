using System.Net;
using System.Net.Sockets;

namespace GenerateCT.Testing;

/// <summary>
/// Scratch resources for tests. An instance is a fresh directory deleted on dispose; the static
/// members hand out a directory the caller keeps (a peer process or a fixture owns its lifetime)
/// and loopback ports for peers that cannot bind port 0 themselves.
/// </summary>
/// <remarks>Directories live under the system temp folder (/tmp) so that service accounts such as
/// postgres and orthanc can reach them.</remarks>
public sealed class Scratch : IDisposable
{
    public Scratch(string prefix = "gct")
    {
        Path = NewDirectory(prefix);
    }

    /// <summary>The directory this instance owns.</summary>
    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Creates a uniquely named directory <c>/tmp/{prefix}-xxxxxxxxxxxx</c> that nothing deletes for the caller.</summary>
    public static string NewDirectory(string prefix)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A loopback TCP port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a peer process may still hold a file; the OS temp cleaner gets it
        }
    }
}
