namespace GenerateCT.Imaging;

/// <summary>
/// A 3-D scalar volume in patient space: float32 voxels laid out Z×H×W (slice, row, column),
/// with DICOM LPS geometry. <see cref="Spacing"/> is (z, y, x) in millimetres; <see cref="Origin"/>
/// is the LPS position of voxel (0,0,0); <see cref="Direction"/> holds the unit vectors of the
/// column axis (x, increasing column index), the row axis (y, increasing row index) and the slice
/// axis (z), each as an LPS 3-vector, in that order (9 numbers, row-major: Xx Xy Xz Yx Yy Yz Zx Zy Zz).
/// </summary>
public sealed class Volume
{
    public Volume(int depth, int height, int width, float[]? voxels = null)
    {
        if (depth <= 0 || height <= 0 || width <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(depth), $"volume shape must be positive, got {depth}×{height}×{width}");
        }

        Depth = depth;
        Height = height;
        Width = width;
        long count = (long)depth * height * width;
        if (voxels is not null && voxels.LongLength != count)
        {
            throw new ArgumentException($"voxel buffer has {voxels.LongLength} values, shape {depth}×{height}×{width} needs {count}", nameof(voxels));
        }

        Voxels = voxels ?? new float[count];
    }

    public int Depth { get; }

    public int Height { get; }

    public int Width { get; }

    /// <summary>Voxel values, index = (z·H + y)·W + x.</summary>
    public float[] Voxels { get; }

    /// <summary>Spacing (z, y, x) in mm.</summary>
    public (double Z, double Y, double X) Spacing { get; set; } = (1, 1, 1);

    /// <summary>LPS position (mm) of the centre of voxel (0,0,0).</summary>
    public (double X, double Y, double Z) Origin { get; set; }

    /// <summary>Direction cosines: column axis, row axis, slice axis (LPS), 9 values.</summary>
    public double[] Direction { get; set; } = [1, 0, 0, 0, 1, 0, 0, 0, 1];

    /// <summary>Unit of the voxel values, "HU" for CT.</summary>
    public string Unit { get; set; } = "HU";

    public int SliceLength => Height * Width;

    public float this[int z, int y, int x]
    {
        get => Voxels[((long)z * Height + y) * Width + x];
        set => Voxels[((long)z * Height + y) * Width + x] = value;
    }

    public Span<float> Slice(int z) => Voxels.AsSpan(z * SliceLength, SliceLength);

    /// <summary>A copy with the same geometry and new voxels (or a copy of these).</summary>
    public Volume With(float[]? voxels = null) => new(Depth, Height, Width, voxels ?? (float[])Voxels.Clone())
    {
        Spacing = Spacing,
        Origin = Origin,
        Direction = (double[])Direction.Clone(),
        Unit = Unit,
    };

    /// <summary>Volume of one voxel in mm³.</summary>
    public double VoxelVolumeMm3 => Spacing.Z * Spacing.Y * Spacing.X;

    /// <summary>
    /// The 4×4 voxel-index → LPS (mm) affine, row-major. Voxel index order is (column, row, slice) =
    /// (x, y, z), matching PS3.3 C.7.6.2.1.1 (Image Position/Orientation) extended by the slice axis.
    /// </summary>
    public double[] IndexToLps()
    {
        var d = Direction;
        return
        [
            d[0] * Spacing.X, d[3] * Spacing.Y, d[6] * Spacing.Z, Origin.X,
            d[1] * Spacing.X, d[4] * Spacing.Y, d[7] * Spacing.Z, Origin.Y,
            d[2] * Spacing.X, d[5] * Spacing.Y, d[8] * Spacing.Z, Origin.Z,
            0, 0, 0, 1,
        ];
    }

    /// <summary>LPS position (mm) of the centre of voxel (x, y, z); indices may be fractional.</summary>
    public (double X, double Y, double Z) IndexToLps(double x, double y, double z)
    {
        var d = Direction;
        double ux = x * Spacing.X, uy = y * Spacing.Y, uz = z * Spacing.Z;
        return (Origin.X + d[0] * ux + d[3] * uy + d[6] * uz,
                Origin.Y + d[1] * ux + d[4] * uy + d[7] * uz,
                Origin.Z + d[2] * ux + d[5] * uy + d[8] * uz);
    }

    /// <summary>
    /// Trilinear resampling onto a <paramref name="depth"/>×<paramref name="height"/>×<paramref name="width"/>
    /// grid that covers the same physical extent (voxel edges to voxel edges), as
    /// <c>torch.nn.functional.interpolate(mode="trilinear", align_corners=False)</c> does: the new spacing is
    /// old spacing × old size / new size, and the centre of the volume stays where it is.
    /// </summary>
    public Volume ResampleTo(int depth, int height, int width) =>
        Resample(depth, height, width, (Spacing.Z * Depth / depth, Spacing.Y * Height / height, Spacing.X * Width / width));

    /// <summary>
    /// Trilinear resampling to a target spacing (mm, z/y/x). The new shape is the old extent divided by the
    /// new spacing, rounded; the grid stays centred on the old one, and samples outside repeat the edge.
    /// </summary>
    public Volume ResampleToSpacing(double spacingZ, double spacingY, double spacingX)
    {
        if (spacingZ <= 0 || spacingY <= 0 || spacingX <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(spacingZ), $"target spacing must be positive, got {spacingZ}×{spacingY}×{spacingX} mm");
        }

        int d = Math.Max(1, (int)Math.Round(Depth * Spacing.Z / spacingZ));
        int h = Math.Max(1, (int)Math.Round(Height * Spacing.Y / spacingY));
        int w = Math.Max(1, (int)Math.Round(Width * Spacing.X / spacingX));
        return Resample(d, h, w, (spacingZ, spacingY, spacingX));
    }

    private Volume Resample(int depth, int height, int width, (double Z, double Y, double X) spacing)
    {
        if (depth <= 0 || height <= 0 || width <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(depth), $"target shape must be positive, got {depth}×{height}×{width}");
        }

        var zs = AxisSamples(Depth, depth, Spacing.Z, spacing.Z);
        var ys = AxisSamples(Height, height, Spacing.Y, spacing.Y);
        var xs = AxisSamples(Width, width, Spacing.X, spacing.X);
        var output = new float[(long)depth * height * width];
        var src = Voxels;
        int srcH = Height, srcW = Width;
        Parallel.For(0, depth, z =>
        {
            var (z0, z1, wz) = zs[z];
            for (int y = 0; y < height; y++)
            {
                var (y0, y1, wy) = ys[y];
                long r00 = ((long)z0 * srcH + y0) * srcW, r01 = ((long)z0 * srcH + y1) * srcW;
                long r10 = ((long)z1 * srcH + y0) * srcW, r11 = ((long)z1 * srcH + y1) * srcW;
                long o = ((long)z * height + y) * width;
                for (int x = 0; x < width; x++)
                {
                    var (x0, x1, wx) = xs[x];
                    float c00 = src[r00 + x0] + (src[r00 + x1] - src[r00 + x0]) * wx;
                    float c01 = src[r01 + x0] + (src[r01 + x1] - src[r01 + x0]) * wx;
                    float c10 = src[r10 + x0] + (src[r10 + x1] - src[r10 + x0]) * wx;
                    float c11 = src[r11 + x0] + (src[r11 + x1] - src[r11 + x0]) * wx;
                    float c0 = c00 + (c01 - c00) * wy;
                    float c1 = c10 + (c11 - c10) * wy;
                    output[o + x] = c0 + (c1 - c0) * wz;
                }
            }
        });

        // The new origin is the old grid's (fractional) position of new voxel 0, so geometry and samples agree.
        double oz = SamplePosition(Depth, depth, Spacing.Z, spacing.Z, 0);
        double oy = SamplePosition(Height, height, Spacing.Y, spacing.Y, 0);
        double ox = SamplePosition(Width, width, Spacing.X, spacing.X, 0);
        return new Volume(depth, height, width, output)
        {
            Spacing = spacing,
            Origin = IndexToLps(ox, oy, oz),
            Direction = (double[])Direction.Clone(),
            Unit = Unit,
        };
    }

    /// <summary>Fractional source index of target index <paramref name="i"/> when both grids share a centre.</summary>
    private static double SamplePosition(int n, int m, double s, double t, int i) => (n - 1) / 2.0 + (i - (m - 1) / 2.0) * t / s;

    private static (int I0, int I1, float W)[] AxisSamples(int n, int m, double s, double t)
    {
        var result = new (int, int, float)[m];
        for (int i = 0; i < m; i++)
        {
            double p = Math.Clamp(SamplePosition(n, m, s, t, i), 0, n - 1);
            int i0 = (int)Math.Floor(p);
            int i1 = Math.Min(i0 + 1, n - 1);
            result[i] = (i0, i1, (float)(p - i0));
        }

        return result;
    }
}
