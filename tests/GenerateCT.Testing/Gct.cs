using System.Diagnostics;
using System.Text;

namespace GenerateCT.Testing;

/// <summary>Runs the built `gct` tool as a separate process, as a user would.</summary>
public static class Gct
{
    public sealed record Result(int ExitCode, string Output);

    /// <summary>Path of gct.dll copied beside the test assembly (test projects reference GenerateCT.Cli).</summary>
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "gct.dll");

    public static async Task<Result> RunAsync(TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(DllPath);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "200";
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        var stdout = Pump(process.StandardOutput, output);
        var stderr = Pump(process.StandardError, output);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gct {string.Join(' ', args)} did not finish within {timeout}:\n{output}");
        }

        await Task.WhenAll(stdout, stderr);
        return new Result(process.ExitCode, output.ToString());
    }

    private static async Task Pump(StreamReader reader, StringBuilder sink)
    {
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            lock (sink)
            {
                sink.AppendLine(line);
            }
        }
    }
}
