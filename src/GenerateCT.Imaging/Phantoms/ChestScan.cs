using System.Collections.Concurrent;

namespace GenerateCT.Imaging.Phantoms;

/// <summary>Spread (standard deviation, mm) of an opacity along its principal axes, ascending.</summary>
public readonly record struct Spread(double Smallest, double Middle, double Largest);

/// <summary>An isolated intrapulmonary opacity: a connected soft-tissue region surrounded by aerated lung.</summary>
public sealed record Opacity(double VolumeMl, double EquivalentDiameterMm, Spread SpreadMm, (double X, double Y, double Z) CentroidLps);

/// <summary>
/// Classical (threshold and connectivity) segmentation of a chest CT volume in HU, shared by the finding
/// measurements in <c>Phantoms/Findings</c>: outside air, aerated lung, per-row lung extents, a denoised copy,
/// and isolated lung opacities. It needs only the volume, so it works on generated CTs as well as phantoms.
/// </summary>
public sealed class ChestScan
{
    /// <summary>Aerated lung (and airway) is below this; soft tissue, fluid and bone above.</summary>
    public const float AirThresholdHu = -400;

    private readonly bool[] outside;
    private readonly int[] lungLo;
    private readonly int[] lungHi;
    private readonly ConcurrentDictionary<string, object> cache = new();
    private readonly Lazy<IReadOnlyList<Opacity>> opacities;

    private ChestScan(Volume volume)
    {
        if (volume.Unit != "HU")
        {
            throw new InvalidOperationException($"chest measurements need HU, the volume is in {volume.Unit}; denormalize it first");
        }

        Volume = volume;
        Smoothed = volume.Spacing.X < 2.0 && volume.Spacing.Y < 2.0 ? Median3x3(volume) : volume.Voxels;
        outside = FloodOutsideAir(volume);
        (lungLo, lungHi) = LungExtents(volume, outside);
        ColumnsTowardPatientLeft = volume.Direction[0] >= 0;
        RowsTowardPosterior = volume.Direction[4] >= 0;
        MidlineColumn = BodyMidline(volume, outside);
        opacities = new Lazy<IReadOnlyList<Opacity>>(FindOpacities);
    }

    public Volume Volume { get; }

    /// <summary>
    /// HU after a 3×3 in-plane median at fine in-plane spacing (&lt; 2 mm), where quantum noise would
    /// otherwise blur the narrow fluid and myocardium windows; coarse voxels are used as they are,
    /// because they average noise already and a median would erase one-voxel-thin structures.
    /// </summary>
    internal float[] Smoothed { get; }

    internal bool ColumnsTowardPatientLeft { get; }

    internal bool RowsTowardPosterior { get; }

    internal int MidlineColumn { get; }

    internal double VoxelMl => Volume.VoxelVolumeMm3 / 1000.0;

    /// <summary>Isolated lung opacities (nodules, consolidation, plate atelectasis), largest first.</summary>
    public IReadOnlyList<Opacity> Opacities => opacities.Value;

    public static ChestScan Analyze(Volume hu) => new(hu);

    internal bool IsLung(long i) => Volume.Voxels[i] < AirThresholdHu && !outside[i];

    internal bool IsPatientRight(int column) => ColumnsTowardPatientLeft ? column < MidlineColumn : column > MidlineColumn;

    /// <summary>First and last lung column in row y of slice z, or (-1, -1).</summary>
    internal (int Lo, int Hi) LungExtent(int z, int y) => (lungLo[(z * Volume.Height) + y], lungHi[(z * Volume.Height) + y]);

    internal T Cached<T>(string key, Func<ChestScan, T> build)
        where T : class => (T)cache.GetOrAdd(key, _ => build(this));

    private static float[] Median3x3(Volume v)
    {
        var output = new float[v.Voxels.LongLength];
        var src = v.Voxels;
        int w = v.Width, h = v.Height;
        Parallel.For(0, v.Depth, z =>
        {
            Span<float> n = stackalloc float[9];
            long baseIndex = (long)z * h * w;
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++)
                {
                    int k = 0;
                    for (int dy = -1; dy <= 1; dy++)
                    {
                        int yy = Math.Clamp(y + dy, 0, h - 1);
                        for (int dx = -1; dx <= 1; dx++)
                        {
                            n[k++] = src[baseIndex + ((long)yy * w) + Math.Clamp(x + dx, 0, w - 1)];
                        }
                    }

                    n.Sort();
                    output[baseIndex + ((long)y * w) + x] = n[4];
                }
            }
        });
        return output;
    }

    /// <summary>Air connected (4-neighbour, in-plane) to the slice border: the air around the patient.</summary>
    private static bool[] FloodOutsideAir(Volume v)
    {
        var outside = new bool[v.Voxels.LongLength];
        var src = v.Voxels;
        int w = v.Width, h = v.Height;
        Parallel.For(0, v.Depth, z =>
        {
            long b = (long)z * h * w;
            var stack = new Stack<int>();
            void Push(int x, int y)
            {
                long i = b + ((long)y * w) + x;
                if (!outside[i] && src[i] < AirThresholdHu)
                {
                    outside[i] = true;
                    stack.Push((y * w) + x);
                }
            }

            for (int x = 0; x < w; x++)
            {
                Push(x, 0);
                Push(x, h - 1);
            }

            for (int y = 0; y < h; y++)
            {
                Push(0, y);
                Push(w - 1, y);
            }

            while (stack.Count > 0)
            {
                int p = stack.Pop();
                int x = p % w, y = p / w;
                if (x > 0)
                {
                    Push(x - 1, y);
                }

                if (x < w - 1)
                {
                    Push(x + 1, y);
                }

                if (y > 0)
                {
                    Push(x, y - 1);
                }

                if (y < h - 1)
                {
                    Push(x, y + 1);
                }
            }
        });
        return outside;
    }

    private static (int[] Lo, int[] Hi) LungExtents(Volume v, bool[] outside)
    {
        var lo = new int[v.Depth * v.Height];
        var hi = new int[v.Depth * v.Height];
        var src = v.Voxels;
        Parallel.For(0, v.Depth, z =>
        {
            for (int y = 0; y < v.Height; y++)
            {
                long row = ((long)z * v.Height + y) * v.Width;
                int l = -1, r = -1;
                for (int x = 0; x < v.Width; x++)
                {
                    if (src[row + x] < AirThresholdHu && !outside[row + x])
                    {
                        l = l < 0 ? x : l;
                        r = x;
                    }
                }

                lo[(z * v.Height) + y] = l;
                hi[(z * v.Height) + y] = r;
            }
        });
        return (lo, hi);
    }

    private static int BodyMidline(Volume v, bool[] outside)
    {
        double sum = 0;
        long n = 0;
        for (long i = 0; i < outside.LongLength; i++)
        {
            if (!outside[i])
            {
                sum += i % v.Width;
                n++;
            }
        }

        return n == 0 ? v.Width / 2 : (int)Math.Round(sum / n);
    }

    /// <summary>
    /// Face-connected (6-neighbour) components of non-air voxels that touch (26-neighbour) neither outside air
    /// nor the volume edge. The
    /// body wall touches outside air and vessels/airways connect to the mediastinum, so what remains are
    /// opacities fully surrounded by aerated lung.
    /// </summary>
    private IReadOnlyList<Opacity> FindOpacities()
    {
        var src = Volume.Voxels;
        var visited = new bool[src.LongLength];
        var stack = new Stack<long>();
        var found = new List<Opacity>();
        for (long start = 0; start < src.LongLength; start++)
        {
            if (visited[start] || src[start] < AirThresholdHu || outside[start])
            {
                continue;
            }

            var component = new ComponentMoments();
            if (!FloodComponent(start, visited, stack, ref component))
            {
                found.Add(ToOpacity(component));
            }
        }

        return found.OrderByDescending(o => o.VolumeMl).ToList();
    }

    /// <summary>
    /// Flood-fills the face-connected non-air component from <paramref name="start"/>, accumulating its voxel moments;
    /// returns true when it touches outside air or the volume edge.
    /// </summary>
    private bool FloodComponent(long start, bool[] visited, Stack<long> stack, ref ComponentMoments m)
    {
        var v = Volume;
        var src = v.Voxels;
        int w = v.Width, h = v.Height, d = v.Depth;
        double sx = v.Spacing.X, sy = v.Spacing.Y, sz = v.Spacing.Z;
        bool touches = false;
        visited[start] = true;
        stack.Push(start);
        while (stack.Count > 0)
        {
            long i = stack.Pop();
            int x = (int)(i % w), y = (int)(i / w % h), z = (int)(i / ((long)w * h));
            double px = x * sx, py = y * sy, pz = z * sz;
            m.N++;
            m.Mx += px;
            m.My += py;
            m.Mz += pz;
            m.Xx += px * px;
            m.Yy += py * py;
            m.Zz += pz * pz;
            m.Xy += px * py;
            m.Xz += px * pz;
            m.Yz += py * pz;
            if (x == 0 || y == 0 || z == 0 || x == w - 1 || y == h - 1 || z == d - 1)
            {
                touches = true;
                continue;
            }

            for (int dz = -1; dz <= 1; dz++)
            {
                for (int dy = -1; dy <= 1; dy++)
                {
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        long j = i + (((long)dz * h + dy) * w) + dx;
                        if (outside[j])
                        {
                            touches = true;
                        }
                        else if (Math.Abs(dx) + Math.Abs(dy) + Math.Abs(dz) == 1 && !visited[j] && src[j] >= AirThresholdHu)
                        {
                            visited[j] = true;
                            stack.Push(j);
                        }
                    }
                }
            }
        }

        return touches;
    }

    /// <summary>An enclosed component as an opacity: volume, equivalent diameter, principal spreads and LPS centroid.</summary>
    private Opacity ToOpacity(ComponentMoments m)
    {
        var v = Volume;
        double sx = v.Spacing.X, sy = v.Spacing.Y, sz = v.Spacing.Z;
        long n = m.N;
        double mx = m.Mx / n, my = m.My / n, mz = m.Mz / n;
        // Covariance of voxel centres plus the spread of a uniform voxel (s²/12) along each axis.
        double cxx = (m.Xx / n) - (mx * mx) + (sx * sx / 12), cyy = (m.Yy / n) - (my * my) + (sy * sy / 12), czz = (m.Zz / n) - (mz * mz) + (sz * sz / 12);
        double cxy = (m.Xy / n) - (mx * my), cxz = (m.Xz / n) - (mx * mz), cyz = (m.Yz / n) - (my * mz);
        var eig = SymmetricEigenvalues(cxx, cyy, czz, cxy, cxz, cyz);
        double volumeMm3 = n * v.VoxelVolumeMm3;
        return new Opacity(
            volumeMm3 / 1000.0,
            Math.Cbrt(6 * volumeMm3 / Math.PI),
            new Spread(Math.Sqrt(Math.Max(eig[0], 0)), Math.Sqrt(Math.Max(eig[1], 0)), Math.Sqrt(Math.Max(eig[2], 0))),
            v.IndexToLps(mx / sx, my / sy, mz / sz));
    }

    /// <summary>Voxel count and first and second moments (mm) of one component.</summary>
    private struct ComponentMoments
    {
        public long N;
        public double Mx, My, Mz, Xx, Yy, Zz, Xy, Xz, Yz;
    }

    /// <summary>Eigenvalues of a symmetric 3×3 matrix, ascending (trigonometric closed form, Smith 1961).</summary>
    private static double[] SymmetricEigenvalues(double a, double b, double c, double d, double e, double f)
    {
        double p1 = (d * d) + (e * e) + (f * f);
        if (p1 < 1e-12)
        {
            double[] diag = [a, b, c];
            Array.Sort(diag);
            return diag;
        }

        double q = (a + b + c) / 3;
        double p2 = ((a - q) * (a - q)) + ((b - q) * (b - q)) + ((c - q) * (c - q)) + (2 * p1);
        double p = Math.Sqrt(p2 / 6);
        double b11 = (a - q) / p, b22 = (b - q) / p, b33 = (c - q) / p, b12 = d / p, b13 = e / p, b23 = f / p;
        double det = (b11 * ((b22 * b33) - (b23 * b23))) - (b12 * ((b12 * b33) - (b23 * b13))) + (b13 * ((b12 * b23) - (b22 * b13)));
        double r = Math.Clamp(det / 2, -1, 1);
        double phi = Math.Acos(r) / 3;
        double e1 = q + (2 * p * Math.Cos(phi));
        double e3 = q + (2 * p * Math.Cos(phi + (2 * Math.PI / 3)));
        double e2 = (3 * q) - e1 - e3;
        double[] result = [e1, e2, e3];
        Array.Sort(result);
        return result;
    }
}
