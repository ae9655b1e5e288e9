using System.Diagnostics;
using System.Text;

namespace GenerateCT.Testing.Dicom;

/// <summary>Result of one dcmtk command: exit code and the captured output.</summary>
public sealed record DcmtkResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => StandardOutput + StandardError;

    /// <summary>dcmtk prefixes diagnostics with "W: " (warning) and "E: " / "F: " (error, fatal).</summary>
    public IReadOnlyList<string> WarningsAndErrors => Output.Split('\n').Where(l => l.StartsWith("W: ", StringComparison.Ordinal)
        || l.StartsWith("E: ", StringComparison.Ordinal) || l.StartsWith("F: ", StringComparison.Ordinal)).ToList();
}

/// <summary>Runs dcmtk command-line tools (dcmdump, storescu, echoscu, storescp, dcmconv…) as real peers in tests.</summary>
public static class DcmtkTool
{
    /// <summary>Runs <paramref name="tool"/> to completion (killed after <paramref name="timeout"/>).</summary>
    public static async Task<DcmtkResult> RunAsync(string tool, IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        using var process = Start(tool, arguments);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', arguments)} did not finish in {timeout ?? TimeSpan.FromSeconds(60)}");
        }

        return new DcmtkResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>Starts a long-running tool (e.g. storescp); the caller stops it with <see cref="Process.Kill(bool)"/>.</summary>
    public static Process Start(string tool, IEnumerable<string> arguments)
    {
        var psi = new ProcessStartInfo(Locate(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {tool}");
    }

    /// <summary>Full path of a dcmtk tool; tests need the Debian `dcmtk` package.</summary>
    public static string Locate(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Append("/usr/bin"))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p))
            {
                return p;
            }
        }

        throw new FileNotFoundException($"dcmtk tool '{tool}' not found on PATH: install the Debian package 'dcmtk'");
    }
}
