using System.Diagnostics;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Testing;
using GenerateCT.Testing.Dicom;
using Xunit.Abstractions;

namespace GenerateCT.EndToEnd.Tests;

/// <summary>`gct phantom` → `gct train all --config tiny` → `gct generate`, as a user runs them.</summary>
public sealed class GenerateTests(ITestOutputHelper output)
{
    private const string Prompt = "64 years old female: Cardiomegaly.";

    [Fact]
    public async Task Train_all_on_phantoms_then_generate_writes_synthetic_nifti_dicom_and_png_reproducibly()
    {
        var dir = Scratch.NewDirectory("gct-generate");
        try
        {
            var data = Path.Combine(dir, "phantoms");
            var bundle = Path.Combine(dir, "bundle");
            var timer = Stopwatch.StartNew();
            var phantoms = await Gct.RunAsync(TimeSpan.FromMinutes(3), "phantom", "--count", "24", "--slices", "9", "--size", "64", "--findings", "random", "--out", data);
            Assert.True(phantoms.ExitCode == 0, phantoms.Output);
            output.WriteLine($"phantom: {timer.Elapsed.TotalSeconds:F0} s");

            timer.Restart();
            var train = await Gct.RunAsync(TimeSpan.FromMinutes(6), "train", "all", "--config", "tiny", "--data", data, "--out", bundle,
                "--ctvit-steps", "40", "--maskgit-steps", "30", "--superres-steps", "12", "--device", "cpu");
            Assert.True(train.ExitCode == 0, train.Output);
            output.WriteLine($"train all: {timer.Elapsed.TotalSeconds:F0} s");
            Assert.True(File.Exists(Path.Combine(bundle, "manifest.json")));

            var verify = await Gct.RunAsync(TimeSpan.FromMinutes(2), "model", "verify", bundle);
            Assert.True(verify.ExitCode == 0, verify.Output);
            Assert.Contains("intact", verify.Output, StringComparison.Ordinal);

            timer.Restart();
            var outA = Path.Combine(dir, "a");
            var first = await Gct.RunAsync(TimeSpan.FromMinutes(4), "generate", Prompt, "--bundle", bundle, "--out", outA, "--seed", "3", "--device", "cpu");
            Assert.True(first.ExitCode == 0, first.Output);
            output.WriteLine($"generate: {timer.Elapsed.TotalSeconds:F0} s\n{first.Output}");
            var nifti = Directory.GetFiles(outA, "*.nii.gz").Single();
            var png = Directory.GetFiles(outA, "*.png").Single();
            var series = Directory.GetDirectories(outA).Single();
            Assert.Contains("outputs in", first.Output, StringComparison.Ordinal);
            Assert.All(new[] { "nifti", "dicom", "png" }, f => Assert.Contains(f, first.Output, StringComparison.Ordinal));
            Assert.Equal("synthetic-001.nii.gz", Path.GetFileName(nifti));

            var image = await NiftiFile.ReadAsync(nifti);
            Assert.True(image.Metadata.IsSynthetic);
            Assert.Equal((9, 64, 64), (image.Volume.Depth, image.Volume.Height, image.Volume.Width));
            Assert.All(image.Volume.Voxels, v => Assert.InRange(v, -1000f, 1000f));

            // Independent readers: nibabel and dcmdump.
            var nib = await RunAsync("/usr/bin/python3", "-c",
                "import sys, nibabel as nib; i = nib.load(sys.argv[1]); d = i.get_fdata(); print(d.shape, float(d.min()), float(d.max()), i.header['descrip'].tobytes().decode().strip(chr(0)))", nifti);
            Assert.True(nib.ExitCode == 0, nib.Output);
            Assert.Contains("(64, 64, 9)", nib.Output, StringComparison.Ordinal);
            Assert.Contains("SYNTHETIC", nib.Output, StringComparison.Ordinal);
            output.WriteLine("nibabel: " + nib.Output);

            var slices = Directory.GetFiles(series);
            Assert.Equal(9, slices.Length);
            var dump = await DcmtkTool.RunAsync("dcmdump", [slices[0]]);
            Assert.True(dump.ExitCode == 0, dump.Output);
            Assert.Contains("DERIVED\\SECONDARY", dump.Output, StringComparison.Ordinal);
            Assert.Contains("SYNTHETIC", dump.Output, StringComparison.Ordinal);

            var pngBytes = await File.ReadAllBytesAsync(png);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], pngBytes[..4]);

            var outB = Path.Combine(dir, "b");
            var second = await Gct.RunAsync(TimeSpan.FromMinutes(4), "generate", Prompt, "--bundle", bundle, "--out", outB, "--seed", "3", "--format", "nifti", "--device", "cpu");
            Assert.True(second.ExitCode == 0, second.Output);
            var again = await NiftiFile.ReadAsync(Directory.GetFiles(outB, "*.nii.gz").Single());
            Assert.Equal(image.Volume.Voxels, again.Volume.Voxels);

            // Bad prompt and broken bundle: clear errors, non-zero exit.
            var empty = await Gct.RunAsync(TimeSpan.FromMinutes(2), "generate", " ", "--bundle", bundle, "--out", Path.Combine(dir, "c"));
            Assert.NotEqual(0, empty.ExitCode);
            Assert.Contains("prompt 1 is empty", empty.Output, StringComparison.Ordinal);

            File.Delete(Path.Combine(bundle, "ctvit.gct"));
            var broken = await Gct.RunAsync(TimeSpan.FromMinutes(2), "model", "verify", bundle);
            Assert.NotEqual(0, broken.ExitCode);
            Assert.Contains("ctvit.gct is missing", broken.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout + await stderr);
    }
}
