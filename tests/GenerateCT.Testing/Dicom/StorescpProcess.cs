using GenerateCT.Testing;
using System.Diagnostics;
using System.Net.Sockets;

namespace GenerateCT.Testing.Dicom;

/// <summary>dcmtk's storescp as a C-STORE target on a free loopback port, stopped by its process id on dispose.</summary>
public sealed class StorescpProcess : IDisposable
{
    private readonly Process _process;

    private StorescpProcess(Process process, int port, string outputDirectory, string aeTitle)
    {
        _process = process;
        Port = port;
        OutputDirectory = outputDirectory;
        AeTitle = aeTitle;
    }

    public int Port { get; }

    public string OutputDirectory { get; }

    public string AeTitle { get; }

    /// <summary>Starts storescp writing into <paramref name="outputDirectory"/>; waits until it accepts connections.</summary>
    public static async Task<StorescpProcess> StartAsync(string outputDirectory, string aeTitle = "STORESCP", IEnumerable<string>? extraArguments = null)
    {
        Directory.CreateDirectory(outputDirectory);
        int port = Scratch.FreePort();
        var process = DcmtkTool.Start("storescp", [.. extraArguments ?? [], "-aet", aeTitle, "-od", outputDirectory, port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"storescp exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync().ConfigureAwait(false)}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port).ConfigureAwait(false);
                return new StorescpProcess(process, port, outputDirectory, aeTitle);
            }
            catch (SocketException)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }

        process.Kill(entireProcessTree: true);
        throw new TimeoutException("storescp did not start listening within 15 s");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
