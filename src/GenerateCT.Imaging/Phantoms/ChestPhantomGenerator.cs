using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;

namespace GenerateCT.Imaging.Phantoms;

/// <summary>What to generate. The same spec (seed included) always gives the same case, voxel for voxel.</summary>
public sealed record PhantomSpec
{
    public int Seed { get; init; }

    /// <summary>Axial slices over the 300 mm scan length (201 gives 1.5 mm slices, as GenerateCT outputs).</summary>
    public int Slices { get; init; } = 64;

    /// <summary>In-plane matrix over a 360 mm field of view (512 gives 0.70 mm pixels).</summary>
    public int Size { get; init; } = 128;

    /// <summary>Findings to plant with parameters drawn from the seed; ignored when <see cref="Findings"/> is set.</summary>
    public IReadOnlyList<FindingKind> FindingKinds { get; init; } = [];

    /// <summary>Findings with explicit parameters.</summary>
    public IReadOnlyList<Finding>? Findings { get; init; }

    /// <summary>Plant made-up identifiers (name, MRN, dates…) in the report, for de-identification tests.</summary>
    public bool PlantPhi { get; init; }
}

/// <summary>
/// Procedural chest CT phantoms: a supine adult chest from the upper abdomen to the thoracic inlet with
/// body wall (skin/subcutaneous fat, muscle), rib cage, sternum and spine, lungs with branching pulmonary
/// vessels and airways, heart in its fat pad, great vessels, upper abdominal organs and the couch; then the
/// requested findings; then lung texture and quantum noise. Deterministic in the seed.
/// </summary>
public static class ChestPhantomGenerator
{
    public const double FieldOfViewMm = 360;
    public const double ScanLengthMm = 300;

    public static PhantomCase Generate(PhantomSpec spec) => Generate(spec, out _);

    /// <summary>Also hands out the tissue label map (tests check attenuation per tissue with it).</summary>
    internal static PhantomCase Generate(PhantomSpec spec, out LabelCanvas labels)
    {
        if (spec.Slices < 8 || spec.Size < 32)
        {
            throw new ArgumentOutOfRangeException(nameof(spec), $"a phantom needs at least 8 slices and a 32×32 matrix, got {spec.Slices} slices of {spec.Size}×{spec.Size}");
        }

        var rng = new Random(spec.Seed);
        var anatomy = Anatomy.Sample(rng);
        var findingRng = new Random(unchecked((spec.Seed * 7919) + 17));
        var findings = spec.Findings?.ToList() ?? spec.FindingKinds.Distinct().Select(k => Finding.Sample(k, findingRng)).ToList();
        if (findings.OfType<Cardiomegaly>().FirstOrDefault() is { } cm)
        {
            anatomy = anatomy with { HeartRatio = cm.CardiothoracicRatio };
        }

        var canvas = new LabelCanvas(spec.Slices, spec.Size, spec.Size, FieldOfViewMm, ScanLengthMm);
        var painter = new PhantomPainter(canvas, anatomy, new Random(unchecked((spec.Seed * 31) + 5)));
        painter.PaintAnatomy(findings.OfType<PericardialEffusion>().FirstOrDefault());
        findings = painter.PaintFindings(findings);
        var volume = painter.Render(spec.Seed);
        labels = canvas;

        var patientRng = new Random(unchecked((spec.Seed * 104729) + 3));
        int age = 35 + patientRng.Next(51);
        var sex = patientRng.Next(2) == 0 ? PatientSex.Male : PatientSex.Female;
        var phi = spec.PlantPhi ? PlantedPhi.Sample(patientRng, sex, age) : null;
        var report = PhantomReportWriter.Write(findings, age, sex, phi, patientRng);
        return new PhantomCase(spec.Seed, volume, age, sex, findings, report, phi);
    }

    /// <summary>Seed-drawn body habitus; every length in mm, z measured up from the first slice.</summary>
    internal sealed record Anatomy(
        double BodyA, double BodyB, double Fat, double CavityA, double CavityB, double CavityY, double RibPitch,
        double HeartRatio, double HeartX, double RightDome, double LeftDome, double LungTexturePhase)
    {
        public static Anatomy Sample(Random rng)
        {
            double s = Finding.Uniform(rng, 0.93, 1.06);
            double bodyA = 168 * s, bodyB = 118 * s * Finding.Uniform(rng, 0.95, 1.05);
            double fat = Finding.Uniform(rng, 9, 22);
            return new Anatomy(
                BodyA: bodyA,
                BodyB: bodyB,
                Fat: fat,
                CavityA: bodyA - fat - 22,
                CavityB: bodyB - (0.7 * fat) - 24,
                CavityY: 4,
                RibPitch: 27 * s,
                HeartRatio: Cardiomegaly.SampleNormalRatio(rng),
                HeartX: Finding.Uniform(rng, 12, 20),
                RightDome: ScanLengthMm * Finding.Uniform(rng, 0.22, 0.26),
                LeftDome: ScanLengthMm * Finding.Uniform(rng, 0.19, 0.22),
                LungTexturePhase: rng.NextDouble() * 6.283);
        }
    }
}
