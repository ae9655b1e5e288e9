using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>
/// Free pleural fluid layering in the dependent (posterior, supine) part of one or both hemithoraces,
/// thickest at the bases. <see cref="DepthMm"/> is the fluid depth at mid-lung height.
/// </summary>
public sealed record PleuralEffusion(Side Side, double DepthMm) : Finding
{
    /// <summary>Fluid below this volume per side (mL) is not called an effusion.</summary>
    public const double ThresholdMl = 10;

    [JsonIgnore]
    public override FindingKind Kind => FindingKind.PleuralEffusion;

    public static PleuralEffusion Sample(Random rng) => new(SampleSide(rng, allowBilateral: true), Uniform(rng, 18, 40));

    /// <summary>Water-attenuation window for simple effusions (transudates ≈ 0–20 HU).</summary>
    internal const float FluidLow = -20, FluidHigh = 25;

    /// <summary>
    /// Fluid volume per side (mL): water-attenuation voxels directly posterior to aerated lung (the
    /// meniscus a dependent effusion forms), grown through connected water-attenuation voxels on the same side.
    /// </summary>
    public static (double RightMl, double LeftMl) Measure(ChestScan scan)
    {
        var v = scan.Volume;
        var s = scan.Smoothed;
        int w = v.Width, h = v.Height;
        var visited = new bool[v.Voxels.LongLength];
        var queue = new Queue<long>();
        long right = 0, left = 0;
        for (int z = 0; z < v.Depth; z++)
        {
            for (int x = 0; x < w; x++)
            {
                // Walk the column from posterior to anterior to find the most posterior lung voxel.
                for (int step = 0; step < h; step++)
                {
                    int y = scan.RowsTowardPosterior ? h - 1 - step : step;
                    long i = ((long)z * h + y) * w + x;
                    if (!scan.IsLung(i))
                    {
                        continue;
                    }

                    int yp = scan.RowsTowardPosterior ? y + 1 : y - 1;
                    if (yp >= 0 && yp < h)
                    {
                        long seed = ((long)z * h + yp) * w + x;
                        if (!visited[seed] && IsFluid(s[seed]))
                        {
                            long n = Grow(scan, seed, x, visited, queue);
                            if (scan.IsPatientRight(x))
                            {
                                right += n;
                            }
                            else
                            {
                                left += n;
                            }
                        }
                    }

                    break;
                }
            }
        }

        return (right * scan.VoxelMl, left * scan.VoxelMl);
    }

    /// <summary>The side(s) with an effusion, or null when neither side reaches the threshold.</summary>
    public static Side? MeasureSide(ChestScan scan)
    {
        var (r, l) = Measure(scan);
        return (r > ThresholdMl, l > ThresholdMl) switch
        {
            (true, true) => Side.Bilateral,
            (true, false) => Side.Right,
            (false, true) => Side.Left,
            _ => null,
        };
    }

    public static bool IsPresentIn(ChestScan scan) => MeasureSide(scan) is not null;

    private static bool IsFluid(float hu) => hu >= FluidLow && hu <= FluidHigh;

    private static long Grow(ChestScan scan, long seed, int seedColumn, bool[] visited, Queue<long> queue)
    {
        var v = scan.Volume;
        var s = scan.Smoothed;
        int w = v.Width, h = v.Height, d = v.Depth;
        bool seedRight = scan.IsPatientRight(seedColumn);
        long count = 0;
        visited[seed] = true;
        queue.Enqueue(seed);
        while (queue.Count > 0)
        {
            long i = queue.Dequeue();
            count++;
            int x = (int)(i % w), y = (int)(i / w % h), z = (int)(i / ((long)w * h));
            Visit(x - 1, y, z);
            Visit(x + 1, y, z);
            Visit(x, y - 1, z);
            Visit(x, y + 1, z);
            Visit(x, y, z - 1);
            Visit(x, y, z + 1);
        }

        return count;

        void Visit(int x, int y, int z)
        {
            if (x < 0 || y < 0 || z < 0 || x >= w || y >= h || z >= d || scan.IsPatientRight(x) != seedRight)
            {
                return;
            }

            long j = ((long)z * h + y) * w + x;
            if (!visited[j] && IsFluid(s[j]))
            {
                visited[j] = true;
                queue.Enqueue(j);
            }
        }
    }
}
