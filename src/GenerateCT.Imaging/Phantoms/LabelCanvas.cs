namespace GenerateCT.Imaging.Phantoms;

/// <summary>A point or vector in phantom space (mm, LPS: x → patient left, y → posterior, z → superior).</summary>
internal readonly record struct Vec3(double X, double Y, double Z)
{
    public static Vec3 operator +(Vec3 a, Vec3 b) => new(a.X + b.X, a.Y + b.Y, a.Z + b.Z);

    public static Vec3 operator -(Vec3 a, Vec3 b) => new(a.X - b.X, a.Y - b.Y, a.Z - b.Z);

    public static Vec3 operator *(Vec3 a, double s) => new(a.X * s, a.Y * s, a.Z * s);

    public double Dot(Vec3 b) => (X * b.X) + (Y * b.Y) + (Z * b.Z);

    public double Length => Math.Sqrt(Dot(this));

    public Vec3 Normalized => this * (1 / Length);
}

/// <summary>
/// The tissue label volume a phantom is painted into, in voxel order z·H·W like <see cref="Volume"/>.
/// Primitives are rasterized only over their bounding box, so painting a small structure into a
/// 512×512×201 canvas costs what the structure covers, not the whole volume.
/// </summary>
internal sealed class LabelCanvas
{
    public LabelCanvas(int depth, int height, int width, double fieldOfViewMm, double lengthMm)
    {
        Depth = depth;
        Height = height;
        Width = width;
        Sx = fieldOfViewMm / width;
        Sy = fieldOfViewMm / height;
        Sz = lengthMm / depth;
        X0 = (-fieldOfViewMm / 2) + (Sx / 2);
        Y0 = (-fieldOfViewMm / 2) + (Sy / 2);
        Z0 = Sz / 2;
        Labels = new Tissue[(long)depth * height * width];
    }

    public int Depth { get; }

    public int Height { get; }

    public int Width { get; }

    public double Sx { get; }

    public double Sy { get; }

    public double Sz { get; }

    public double X0 { get; }

    public double Y0 { get; }

    public double Z0 { get; }

    public Tissue[] Labels { get; }

    public double X(int i) => X0 + (i * Sx);

    public double Y(int j) => Y0 + (j * Sy);

    public double Z(int k) => Z0 + (k * Sz);

    public long Index(int k, int j, int i) => (((long)k * Height) + j) * Width + i;

    public Tissue At(Vec3 p)
    {
        int i = (int)Math.Round((p.X - X0) / Sx), j = (int)Math.Round((p.Y - Y0) / Sy), k = (int)Math.Round((p.Z - Z0) / Sz);
        return i < 0 || j < 0 || k < 0 || i >= Width || j >= Height || k >= Depth ? Tissue.Air : Labels[Index(k, j, i)];
    }

    /// <summary>
    /// Radii used for rasterizing: no smaller than 0.9 voxel per axis (more than half the voxel diagonal), so
    /// a small nodule always covers a voxel and thin tubes stay face-connected at coarse resolutions instead
    /// of breaking into islands that would read as nodules.
    /// </summary>
    public Vec3 Visible(Vec3 radii) => new(Math.Max(radii.X, 0.9 * Sx), Math.Max(radii.Y, 0.9 * Sy), Math.Max(radii.Z, 0.9 * Sz));

    public void PaintEllipsoid(Vec3 c, Vec3 radii, Tissue t, TissueSet over)
    {
        var r = Visible(radii);
        Paint(c - r, c + r, t, over, (x, y, z) =>
        {
            double dx = (x - c.X) / r.X, dy = (y - c.Y) / r.Y, dz = (z - c.Z) / r.Z;
            return (dx * dx) + (dy * dy) + (dz * dz) <= 1;
        });
    }

    /// <summary>
    /// A cylinder with round caps from <paramref name="a"/> to <paramref name="b"/>. A <paramref name="wall"/> adds
    /// that thickness, and never less than one voxel per axis, so a wall painted around a lumen stays closed.
    /// </summary>
    public void PaintCapsule(Vec3 a, Vec3 b, double radius, Tissue t, TissueSet over, double wall = 0)
    {
        var r = Visible(new Vec3(radius, radius, radius));
        if (wall > 0)
        {
            r = new Vec3(r.X + Math.Max(wall, 1.02 * Sx), r.Y + Math.Max(wall, 1.02 * Sy), r.Z + Math.Max(wall, 1.02 * Sz));
        }
        var lo = new Vec3(Math.Min(a.X, b.X), Math.Min(a.Y, b.Y), Math.Min(a.Z, b.Z)) - r;
        var hi = new Vec3(Math.Max(a.X, b.X), Math.Max(a.Y, b.Y), Math.Max(a.Z, b.Z)) + r;
        var ab = b - a;
        double len2 = Math.Max(ab.Dot(ab), 1e-9);
        Paint(lo, hi, t, over, (x, y, z) =>
        {
            var p = new Vec3(x, y, z);
            double s = Math.Clamp((p - a).Dot(ab) / len2, 0, 1);
            var d = p - (a + (ab * s));
            double dx = d.X / r.X, dy = d.Y / r.Y, dz = d.Z / r.Z;
            return (dx * dx) + (dy * dy) + (dz * dz) <= 1;
        });
    }

    /// <summary>Paints <paramref name="t"/> on voxels in the box whose centre satisfies <paramref name="inside"/>.</summary>
    public void Paint(Vec3 lo, Vec3 hi, Tissue t, TissueSet over, Func<double, double, double, bool> inside)
    {
        var (i0, i1) = Range(lo.X, hi.X, X0, Sx, Width);
        var (j0, j1) = Range(lo.Y, hi.Y, Y0, Sy, Height);
        var (k0, k1) = Range(lo.Z, hi.Z, Z0, Sz, Depth);
        if (i0 > i1 || j0 > j1 || k0 > k1)
        {
            return;
        }

        var labels = Labels;
        void PaintSlice(int k)
        {
            double z = Z(k);
            for (int j = j0; j <= j1; j++)
            {
                double y = Y(j);
                long row = Index(k, j, 0);
                for (int i = i0; i <= i1; i++)
                {
                    if (over.Contains(labels[row + i]) && inside(X(i), y, z))
                    {
                        labels[row + i] = t;
                    }
                }
            }
        }

        // Small primitives (most vessel segments) cost less than scheduling parallel work for them.
        if ((long)(k1 - k0 + 1) * (j1 - j0 + 1) * (i1 - i0 + 1) < 200_000)
        {
            for (int k = k0; k <= k1; k++)
            {
                PaintSlice(k);
            }
        }
        else
        {
            Parallel.For(k0, k1 + 1, PaintSlice);
        }
    }

    /// <summary>True when every sampled voxel of the ellipsoid is one of <paramref name="allowed"/> (sampled every ~3 mm and on the rim).</summary>
    public bool EllipsoidIsWithin(Vec3 c, Vec3 radii, TissueSet allowed)
    {
        var r = Visible(radii);
        int stepI = Math.Max(1, (int)(3 / Sx)), stepJ = Math.Max(1, (int)(3 / Sy)), stepK = Math.Max(1, (int)(3 / Sz));
        var (i0, i1) = Range(c.X - r.X, c.X + r.X, X0, Sx, Width);
        var (j0, j1) = Range(c.Y - r.Y, c.Y + r.Y, Y0, Sy, Height);
        var (k0, k1) = Range(c.Z - r.Z, c.Z + r.Z, Z0, Sz, Depth);
        if (X(i0) > c.X - r.X + Sx || X(i1) < c.X + r.X - Sx || Z(k0) > c.Z - r.Z + Sz || Z(k1) < c.Z + r.Z - Sz)
        {
            return false; // clipped by the volume edge
        }

        for (int k = k0; k <= k1; k += stepK)
        {
            for (int j = j0; j <= j1; j += stepJ)
            {
                for (int i = i0; i <= i1; i += stepI)
                {
                    double dx = (X(i) - c.X) / r.X, dy = (Y(j) - c.Y) / r.Y, dz = (Z(k) - c.Z) / r.Z;
                    if ((dx * dx) + (dy * dy) + (dz * dz) <= 1 && !allowed.Contains(Labels[Index(k, j, i)]))
                    {
                        return false;
                    }
                }
            }
        }

        // The six poles, so a thin wall between samples is not missed at the rim.
        Vec3[] poles = [new(r.X, 0, 0), new(-r.X, 0, 0), new(0, r.Y, 0), new(0, -r.Y, 0), new(0, 0, r.Z), new(0, 0, -r.Z)];
        foreach (var p in poles)
        {
            if (!allowed.Contains(At(c + p)))
            {
                return false;
            }
        }

        return true;
    }

    private static (int Lo, int Hi) Range(double lo, double hi, double origin, double spacing, int n) =>
        (Math.Max(0, (int)Math.Ceiling((lo - origin) / spacing)), Math.Min(n - 1, (int)Math.Floor((hi - origin) / spacing)));
}
