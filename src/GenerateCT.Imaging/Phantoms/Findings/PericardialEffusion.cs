using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>Fluid in the pericardial sac, a water-attenuation rim of <see cref="ThicknessMm"/> around the heart.</summary>
public sealed record PericardialEffusion(double ThicknessMm) : Finding
{
    /// <summary>Normal pericardial fluid is 15–50 mL and mostly not resolved as a rim on CT; above this it is called.</summary>
    public const double ThresholdMl = 5;

    [JsonIgnore]
    public override FindingKind Kind => FindingKind.PericardialEffusion;

    public static PericardialEffusion Sample(Random rng) => new(Uniform(rng, 10, 20));

    /// <summary>
    /// Pericardial fluid volume (mL): water-attenuation voxels beside the cardiac silhouette (within 30 mm of
    /// its columns on the same slice) and anterior to its centroid. Anterior, because dependent pleural fluid
    /// lies posterior, so the two are not confused.
    /// </summary>
    public static double Measure(ChestScan scan)
    {
        var heart = CardiacSilhouette.Trace(scan);
        if (heart.PixelCount == 0)
        {
            return 0;
        }

        var v = scan.Volume;
        var s = scan.Smoothed;
        int margin = (int)Math.Ceiling(30 / v.Spacing.X);
        long count = 0;
        for (int z = 0; z < v.Depth; z++)
        {
            var (cLo, cHi) = heart.Columns[z];
            if (cLo < 0)
            {
                continue;
            }

            for (int y = 0; y < v.Height; y++)
            {
                bool anterior = scan.RowsTowardPosterior ? y < heart.CentroidRow : y > heart.CentroidRow;
                var (lo, hi) = scan.LungExtent(z, y);
                if (!anterior || lo < 0)
                {
                    continue;
                }

                long row = ((long)z * v.Height + y) * v.Width;
                for (int x = Math.Max(lo + 1, cLo - margin); x <= Math.Min(hi - 1, cHi + margin); x++)
                {
                    float hu = s[row + x];
                    if (hu >= PleuralEffusion.FluidLow && hu < CardiacSilhouette.MyocardiumLow - 3)
                    {
                        count++;
                    }
                }
            }
        }

        return count * scan.VoxelMl;
    }

    public static bool IsPresentIn(ChestScan scan) => Measure(scan) > ThresholdMl;
}
