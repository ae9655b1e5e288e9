using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using GenerateCT.Model.CtVit;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>The reference PyTorch CT-ViT's timings on this machine, as printed by tools/bench/reference_ctvit_timing.py.</summary>
internal sealed record ReferenceCtVitTimings(
    [property: JsonPropertyName("implementation")] string Implementation,
    [property: JsonPropertyName("torch")] string Torch,
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("token_grid")] string TokenGrid,
    [property: JsonPropertyName("parameters")] long Parameters,
    [property: JsonPropertyName("iterations")] int Iterations,
    [property: JsonPropertyName("encode_ms_per_volume")] double EncodeMsPerVolume,
    [property: JsonPropertyName("decode_ms_per_volume")] double DecodeMsPerVolume,
    [property: JsonPropertyName("encode_decode_ms_per_volume")] double EncodeDecodeMsPerVolume,
    [property: JsonPropertyName("blas")] IReadOnlyList<string>? Blas,
    [property: JsonPropertyName("peak_rss_bytes")] long PeakRssBytes);

/// <summary>
/// Runs the reference CT-ViT (a GenerateCT checkout, the original Python) through our timing script on the
/// same machine, config, volume size and thread count as our benchmark. The script ships inside gct
/// (embedded from tools/bench/reference_ctvit_timing.py) and is written to a temporary file for the run.
/// Prerequisites: python3 with torch (Debian python3-torch, python3-torchvision) and the reference's pure-Python
/// dependencies (einops, vector_quantize_pytorch, beartype) on <c>--reference-pythonpath</c>.
/// </summary>
internal static class ReferenceCtVitTiming
{
    private const string ScriptResource = "reference_ctvit_timing.py";

    public static async Task<ReferenceCtVitTimings> RunAsync(
        string referenceDir,
        IReadOnlyList<string> pythonPath,
        string python,
        CtVitConfig config,
        int frames,
        int threads,
        int iterations,
        CancellationToken ct)
    {
        if (config.CausalTemporal)
        {
            throw new ArgumentException("the reference CT-ViT has no causal temporal option; benchmark a released config (tiny or paper)");
        }

        var script = Path.Combine(Path.GetTempPath(), $"gct-reference-ctvit-{Environment.ProcessId}.py");
        await using (var resource = Assembly.GetExecutingAssembly().GetManifestResourceStream(ScriptResource)
            ?? throw new InvalidOperationException($"gct was built without its embedded {ScriptResource}"))
        await using (var file = File.Create(script))
        {
            await resource.CopyToAsync(file, ct);
        }

        try
        {
            var start = new ProcessStartInfo(python)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[]
            {
                script, "--reference", referenceDir, "--config", config.Name, "--kwargs", ConstructorKwargs(config),
                "--frames", frames.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture),
                "--iterations", iterations.ToString(CultureInfo.InvariantCulture), "--device", "cpu",
            })
            {
                start.ArgumentList.Add(arg);
            }

            foreach (var dir in pythonPath)
            {
                start.ArgumentList.Add("--path");
                start.ArgumentList.Add(Path.GetFullPath(dir));
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {python}");
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            string output = await stdout, errors = await stderr;
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"the reference CT-ViT timing failed (exit {process.ExitCode}); it needs {python} with torch (apt-get install python3-torch python3-torchvision) " +
                    $"and einops, vector_quantize_pytorch and beartype on --reference-pythonpath. Its error:\n{Tail(errors)}");
            }

            var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
                ?? throw new InvalidOperationException("the reference CT-ViT timing printed nothing");
            return JsonSerializer.Deserialize<ReferenceCtVitTimings>(line)
                ?? throw new InvalidOperationException($"the reference CT-ViT timing printed no JSON: {line}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"python interpreter '{python}' not found ({e.Message}); pass --python", e);
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>Debian's interpreter when present (python3-torch installs there), else python3 on PATH.</summary>
    public static string DefaultPython => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>The reference <c>CTViT(...)</c> keyword arguments for our config, without the loss networks.</summary>
    internal static string ConstructorKwargs(CtVitConfig c) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["dim"] = c.Dim,
        ["codebook_size"] = c.CodebookSize,
        ["image_size"] = c.ImageSize,
        ["patch_size"] = c.PatchSize,
        ["temporal_patch_size"] = c.TemporalPatchSize,
        ["spatial_depth"] = c.SpatialDepth,
        ["temporal_depth"] = c.TemporalDepth,
        ["dim_head"] = c.DimHead,
        ["heads"] = c.Heads,
        ["channels"] = c.Channels,
        ["use_vgg_and_gan"] = false,
        ["attn_dropout"] = c.AttnDropout,
        ["ff_dropout"] = c.FfDropout,
    });

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
