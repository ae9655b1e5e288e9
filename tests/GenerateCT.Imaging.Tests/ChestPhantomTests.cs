using System.Text.Json;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;

namespace GenerateCT.Imaging.Tests;

public sealed class ChestPhantomTests
{
    [Fact]
    public void The_same_seed_gives_the_same_volume_and_report_and_another_seed_does_not()
    {
        var spec = new PhantomSpec { Seed = 11, Slices = 16, Size = 48, FindingKinds = [FindingKind.LungNodules, FindingKind.PleuralEffusion] };
        var a = ChestPhantomGenerator.Generate(spec);
        var b = ChestPhantomGenerator.Generate(spec);
        var other = ChestPhantomGenerator.Generate(spec with { Seed = 12 });
        Assert.Equal(a.Volume.Voxels, b.Volume.Voxels);
        Assert.Equal(a.Report, b.Report with { PhiSpans = a.Report.PhiSpans });
        Assert.NotEqual(a.Volume.Voxels, other.Volume.Voxels);
    }

    [Fact]
    public void Tissues_have_plausible_unenhanced_attenuation()
    {
        var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 5, Slices = 48, Size = 128 }, out var labels);
        var sums = new Dictionary<Tissue, (double Sum, long N)>();
        for (long i = 0; i < labels.Labels.LongLength; i++)
        {
            var t = labels.Labels[i];
            var (s, n) = sums.GetValueOrDefault(t);
            sums[t] = (s + c.Volume.Voxels[i], n + 1);
        }

        double Mean(Tissue t) => sums[t].Sum / sums[t].N;
        Assert.InRange(Mean(Tissue.Air), -1010, -990);
        Assert.InRange(Mean(Tissue.Lung), -900, -780);
        Assert.InRange(Mean(Tissue.Fat), -120, -80);
        Assert.InRange(Mean(Tissue.Muscle), 35, 65);
        Assert.InRange(Mean(Tissue.Heart), 30, 55);
        Assert.InRange(Mean(Tissue.Bone), 400, 900);
        Assert.InRange(Mean(Tissue.Liver), 50, 75);
        foreach (var t in new[] { Tissue.PulmonaryVessel, Tissue.Blood, Tissue.AirwayLumen, Tissue.CancellousBone })
        {
            Assert.True(sums.ContainsKey(t), $"phantom has no {t}");
        }
    }

    [Fact]
    public async Task A_written_case_has_a_synthetic_NIfTI_the_report_and_a_JSON_sidecar_with_findings_and_prompt()
    {
        var dir = Directory.CreateTempSubdirectory("gct-case-").FullName;
        try
        {
            var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 9, Slices = 16, Size = 48, PlantPhi = true, FindingKinds = [FindingKind.Cardiomegaly, FindingKind.PleuralEffusion] });
            var files = await PhantomCaseWriter.WriteAsync(c, dir, "case-0009");
            var nifti = await NiftiFile.ReadAsync(files.Volume);
            Assert.True(nifti.Metadata.IsSynthetic);
            Assert.Equal(c.Volume.Voxels, nifti.Volume.Voxels);
            Assert.Equal(c.Report.Text, await File.ReadAllTextAsync(files.Report));
            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(files.Metadata));
            var root = json.RootElement;
            Assert.Equal(c.Prompt, root.GetProperty("prompt").GetString());
            Assert.True(root.GetProperty("synthetic").GetBoolean());
            var kinds = root.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("kind").GetString()).ToList();
            Assert.Equal(["cardiomegaly", "pleural-effusion"], kinds);
            var span = root.GetProperty("phiSpans")[0];
            Assert.Equal(c.Report.PhiSpans[0].Text, span.GetProperty("text").GetString());
            Assert.Equal("patient-name", span.GetProperty("category").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
