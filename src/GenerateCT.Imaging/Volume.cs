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
}
