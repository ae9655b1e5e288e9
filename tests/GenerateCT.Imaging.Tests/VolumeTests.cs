namespace GenerateCT.Imaging.Tests;

public sealed class VolumeTests
{
    private static Volume Ramp(int d, int h, int w, Func<int, int, int, float> f)
    {
        var v = new Volume(d, h, w) { Spacing = (3, 2, 1), Origin = (10, 20, 30) };
        for (int z = 0; z < d; z++)
        {
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++)
                {
                    v[z, y, x] = f(z, y, x);
                }
            }
        }

        return v;
    }

    [Fact]
    public void Trilinear_resampling_reproduces_a_linear_field_at_the_new_voxel_centres()
    {
        var v = Ramp(6, 8, 10, (z, y, x) => (5 * z) + (3 * y) + x);
        var r = v.ResampleTo(9, 5, 15);
        Assert.Equal((9, 5, 15), (r.Depth, r.Height, r.Width));
        Assert.Equal((2.0, 3.2, Math.Round(2.0 / 3, 9)), (r.Spacing.Z, r.Spacing.Y, Math.Round(r.Spacing.X, 9)));
        for (int z = 0; z < r.Depth; z++)
        {
            for (int y = 0; y < r.Height; y++)
            {
                for (int x = 0; x < r.Width; x++)
                {
                    // align_corners=False source coordinates, clamped to the edge as PyTorch does.
                    double sz = Math.Clamp(((z + 0.5) * 6 / 9.0) - 0.5, 0, 5), sy = Math.Clamp(((y + 0.5) * 8 / 5.0) - 0.5, 0, 7), sx = Math.Clamp(((x + 0.5) * 10 / 15.0) - 0.5, 0, 9);
                    Assert.Equal((5 * sz) + (3 * sy) + sx, r[z, y, x], 3);
                }
            }
        }

        // Geometry follows the samples: the new voxel 0 sits where the old grid's fractional index says.
        var p = v.IndexToLps((0.5 * 10 / 15.0) - 0.5, (0.5 * 8 / 5.0) - 0.5, (0.5 * 6 / 9.0) - 0.5);
        Assert.Equal(p.X, r.Origin.X, 9);
        Assert.Equal(p.Y, r.Origin.Y, 9);
        Assert.Equal(p.Z, r.Origin.Z, 9);
    }

    [Fact]
    public void Resampling_to_a_spacing_keeps_the_physical_extent()
    {
        var v = Ramp(10, 20, 30, (z, y, x) => z);
        var r = v.ResampleToSpacing(1.5, 1, 0.5);
        Assert.Equal((20, 40, 60), (r.Depth, r.Height, r.Width));
        Assert.Equal((1.5, 1.0, 0.5), r.Spacing);
    }

    [Fact]
    public void Model_normalization_clips_to_the_HU_window_and_inverts()
    {
        var v = new Volume(1, 1, 5, [-3000, -1000, 0, 500, 2500]);
        var sym = v.Normalize(ModelIntensityRange.Symmetric);
        Assert.Equal([-1f, -1f, 0f, 0.5f, 1f], sym.Voxels);
        Assert.Equal("HU/1000", sym.Unit);
        var unit = v.Normalize(ModelIntensityRange.Unit);
        Assert.Equal([0f, 0f, 0.5f, 0.75f, 1f], unit.Voxels);
        Assert.Equal([-1000f, -1000f, 0f, 500f, 1000f], unit.Denormalize(ModelIntensityRange.Unit).Voxels);
        Assert.Equal([-1000f, -1000f, 0f, 500f, 1000f], sym.Denormalize(ModelIntensityRange.Symmetric).Voxels);
        Assert.Equal([-1000f, -1000f, 0f, 500f, 1000f], v.ClipHu().Voxels);
        Assert.Throws<InvalidOperationException>(() => sym.Normalize(ModelIntensityRange.Unit));
    }
}
