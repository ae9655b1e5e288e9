using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>
/// An enlarged heart: the cardiothoracic ratio (widest transverse cardiac diameter over widest inner
/// thoracic diameter) above 0.5, the conventional threshold (Danzer 1919; used on axial CT as well).
/// </summary>
public sealed record Cardiomegaly(double CardiothoracicRatio) : Finding
{
    public const double Threshold = 0.5;

    [JsonIgnore]
    public override FindingKind Kind => FindingKind.Cardiomegaly;

    /// <summary>Normal hearts in the phantom: CTR 0.38–0.46; enlarged ones 0.55–0.63.</summary>
    public static Cardiomegaly Sample(Random rng) => new(Uniform(rng, 0.55, 0.63));

    internal static double SampleNormalRatio(Random rng) => Uniform(rng, 0.38, 0.46);

    /// <summary>The cardiothoracic ratio measured on axial slices.</summary>
    public static double Measure(ChestScan scan)
    {
        var heart = CardiacSilhouette.Trace(scan);
        double thorax = 0;
        for (int z = 0; z < scan.Volume.Depth; z++)
        {
            for (int y = 0; y < scan.Volume.Height; y++)
            {
                var (lo, hi) = scan.LungExtent(z, y);
                if (lo >= 0)
                {
                    thorax = Math.Max(thorax, (hi - lo + 1) * scan.Volume.Spacing.X);
                }
            }
        }

        return thorax == 0 ? 0 : heart.MaxWidthMm / thorax;
    }

    public static bool IsPresentIn(ChestScan scan) => Measure(scan) > Threshold;
}

/// <summary>
/// The heart on each axial slice: runs of blood/myocardium attenuation between the two lungs whose
/// both ends meet epicardial fat or pericardial fluid. Requiring fat or fluid at both ends keeps out the
/// diaphragm, chest-wall muscle, vessels and lung opacities, which border lung or bone instead.
/// </summary>
internal sealed class CardiacSilhouette
{
    public const float MyocardiumLow = 25, MyocardiumHigh = 55;
    private const double MinRunMm = 30;

    public double MaxWidthMm { get; private init; }

    /// <summary>Per slice: the heart's column range, or (-1, -1).</summary>
    public (int Lo, int Hi)[] Columns { get; private init; } = [];

    /// <summary>Mean row of heart pixels (the anterior/posterior divide for pericardial fluid).</summary>
    public double CentroidRow { get; private init; }

    public int PixelCount { get; private init; }

    public static CardiacSilhouette Trace(ChestScan scan) => scan.Cached(nameof(CardiacSilhouette), Build);

    private static CardiacSilhouette Build(ChestScan scan)
    {
        var v = scan.Volume;
        var s = scan.Smoothed;
        int minRun = Math.Max(2, (int)Math.Ceiling(MinRunMm / v.Spacing.X));
        double maxWidth = 0, rowSum = 0;
        int count = 0;
        var columns = new (int, int)[v.Depth];
        for (int z = 0; z < v.Depth; z++)
        {
            int cLo = -1, cHi = -1;
            for (int y = 0; y < v.Height; y++)
            {
                var (lo, hi) = scan.LungExtent(z, y);
                if (lo < 0)
                {
                    continue;
                }

                long row = ((long)z * v.Height + y) * v.Width;
                int x = lo + 1;
                while (x < hi)
                {
                    if (!InMyocardium(s[row + x]))
                    {
                        x++;
                        continue;
                    }

                    int start = x;
                    while (x < hi && InMyocardium(s[row + x]))
                    {
                        x++;
                    }

                    int length = x - start;
                    if (length >= minRun && IsFatOrFluid(s[row + start - 1]) && x < hi && IsFatOrFluid(s[row + x]))
                    {
                        maxWidth = Math.Max(maxWidth, length * v.Spacing.X);
                        rowSum += (double)y * length;
                        count += length;
                        cLo = cLo < 0 ? start : Math.Min(cLo, start);
                        cHi = Math.Max(cHi, x - 1);
                    }
                }
            }

            columns[z] = (cLo, cHi);
        }

        return new CardiacSilhouette { MaxWidthMm = maxWidth, Columns = columns, CentroidRow = count == 0 ? -1 : rowSum / count, PixelCount = count };
    }

    private static bool InMyocardium(float hu) => hu >= MyocardiumLow && hu <= MyocardiumHigh;

    private static bool IsFatOrFluid(float hu) => hu >= -200 && hu < MyocardiumLow;
}
