using System.Diagnostics;
using System.Text.Json;

namespace GenerateCT.Imaging.Tests;

/// <summary>Runs Debian's /usr/bin/python3 with nibabel as an independent NIfTI implementation.</summary>
internal static class Nibabel
{
    public static async Task<JsonElement> RunAsync(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, $"python3/nibabel failed: {await stderr}");
        return JsonDocument.Parse(await stdout).RootElement;
    }
}
