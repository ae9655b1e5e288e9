using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using Xunit.Abstractions;

namespace GenerateCT.Imaging.Tests;

/// <summary>
/// The proof the issue asks for: for every finding, phantoms with it and without it are told apart by that
/// finding's own measurement, over 50 seeds, with random other findings present in both arms so the
/// measurement must ignore them. Small phantoms (32×64×64, 5.6 mm pixels, 9.4 mm slices) keep this fast.
/// </summary>
public sealed class ChestPhantomFindingTests(ITestOutputHelper output)
{
    private const int Seeds = 50;

    public static TheoryData<FindingKind> AllFindings() => new(Enum.GetValues<FindingKind>());

    [Theory]
    [MemberData(nameof(AllFindings))]
    public void Each_finding_is_told_apart_from_its_absence_by_its_measurement_over_50_seeds(FindingKind kind)
    {
        var misses = new List<string>();
        for (int seed = 0; seed < Seeds; seed++)
        {
            var pick = new Random((seed * 97) + (int)kind);
            var others = Enum.GetValues<FindingKind>().Where(k => k != kind && pick.NextDouble() < 0.3).ToList();
            var without = ChestPhantomGenerator.Generate(Spec(seed, others));
            var with = ChestPhantomGenerator.Generate(Spec(seed, [.. others, kind]));
            var scanWithout = ChestScan.Analyze(without.Volume);
            var scanWith = ChestScan.Analyze(with.Volume);
            if (Finding.IsPresentIn(kind, scanWithout))
            {
                misses.Add($"seed {seed}: false positive with [{string.Join(", ", others)}]: {Describe(scanWithout)}");
            }

            if (with.Findings.All(f => f.Kind != kind))
            {
                misses.Add($"seed {seed}: the generator found no room for {kind} with [{string.Join(", ", others)}]");
            }
            else if (!Finding.IsPresentIn(kind, scanWith))
            {
                misses.Add($"seed {seed}: missed {with.Findings.First(f => f.Kind == kind)} with [{string.Join(", ", others)}]: {Describe(scanWith)}");
            }
        }

        foreach (var m in misses)
        {
            output.WriteLine(m);
        }

        Assert.Empty(misses);
    }

    [Fact]
    public void Pleural_effusion_side_is_measured_as_planted()
    {
        foreach (var side in Enum.GetValues<Side>())
        {
            for (int seed = 0; seed < 5; seed++)
            {
                var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = seed, Slices = 32, Size = 64, Findings = [new PleuralEffusion(side, 30)] });
                Assert.Equal(side, PleuralEffusion.MeasureSide(ChestScan.Analyze(c.Volume)));
            }
        }
    }

    [Fact]
    public void Nodule_count_is_measured_as_planted()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            int n = 1 + (seed % 3);
            var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = seed, Slices = 32, Size = 64, Findings = [new LungNodules(Enumerable.Repeat(10.0, n).ToList())] });
            Assert.Equal(n, LungNodules.Measure(ChestScan.Analyze(c.Volume)).Count);
        }
    }

    [Fact]
    public void Cardiothoracic_ratio_tracks_the_planted_ratio()
    {
        foreach (double ratio in new[] { 0.40, 0.48, 0.56, 0.62 })
        {
            var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 3, Slices = 32, Size = 96, Findings = [new Cardiomegaly(ratio)] });
            double measured = Cardiomegaly.Measure(ChestScan.Analyze(c.Volume));
            Assert.InRange(measured, ratio - 0.04, ratio + 0.04);
        }
    }

    [Fact]
    public void Emphysema_low_attenuation_area_tracks_the_planted_fraction()
    {
        var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 8, Slices = 32, Size = 64, Findings = [new Emphysema(0.2)] });
        Assert.InRange(Emphysema.Measure(ChestScan.Analyze(c.Volume)), 15, 25);
    }

    private static PhantomSpec Spec(int seed, IReadOnlyList<FindingKind> kinds) => new() { Seed = seed, Slices = 32, Size = 64, FindingKinds = kinds };

    private static string Describe(ChestScan s) =>
        $"CTR {Cardiomegaly.Measure(s):F3}, pleural {PleuralEffusion.Measure(s)}, pericardial {PericardialEffusion.Measure(s):F1} mL, LAA {Emphysema.Measure(s):F1}%, " +
        $"consolidation {Consolidation.Measure(s):F1} mL, opacities [{string.Join("; ", s.Opacities.Select(o => $"{o.EquivalentDiameterMm:F0}mm σ{o.SpreadMm.Smallest:F1}/{o.SpreadMm.Middle:F1}/{o.SpreadMm.Largest:F1}"))}]";
}
