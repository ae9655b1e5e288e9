using GenerateCT.Imaging.Nifti;

namespace GenerateCT.Imaging.Tests;

public sealed class NiftiFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("gct-nifti-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>An oblique, flipped, anisotropic volume with distinct values, so any axis mix-up shows.</summary>
    private static Volume Oblique()
    {
        var v = new Volume(5, 4, 3) { Spacing = (2.5, 0.8, 0.7), Origin = (-120.5, 33.25, 410) };
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        // Columns along a rotated x, rows along a rotated y, slices going inferior (feet first stacking).
        v.Direction = [c, s, 0, -s, c, 0, 0, 0, -1];
        for (int i = 0; i < v.Voxels.Length; i++)
        {
            v.Voxels[i] = (i * 7.25f) - 1000;
        }

        return v;
    }

    [Theory]
    [InlineData("oblique.nii")]
    [InlineData("oblique.nii.gz")]
    public async Task Round_trip_keeps_voxels_and_LPS_geometry(string name)
    {
        var v = Oblique();
        var path = Path.Combine(dir, name);
        await NiftiFile.WriteAsync(v, path);
        var back = (await NiftiFile.ReadAsync(path)).Volume;
        Assert.Equal((v.Depth, v.Height, v.Width), (back.Depth, back.Height, back.Width));
        Assert.Equal(v.Voxels, back.Voxels);
        Assert.Equal(v.Spacing.Z, back.Spacing.Z, 4);
        Assert.Equal(v.Spacing.Y, back.Spacing.Y, 4);
        Assert.Equal(v.Spacing.X, back.Spacing.X, 4);
        Assert.Equal(v.Origin.X, back.Origin.X, 3);
        Assert.Equal(v.Origin.Y, back.Origin.Y, 3);
        Assert.Equal(v.Origin.Z, back.Origin.Z, 3);
        for (int i = 0; i < 9; i++)
        {
            Assert.Equal(v.Direction[i], back.Direction[i], 5);
        }
    }

    [Fact]
    public async Task Nibabel_reads_our_file_with_the_same_shape_RAS_affine_values_and_synthetic_marking()
    {
        var v = Oblique();
        var path = Path.Combine(dir, "ours.nii.gz");
        await NiftiFile.WriteAsync(v, path, "unit test");
        var r = await Nibabel.RunAsync(
            """
            import sys, json, nibabel as nib, numpy as np
            img = nib.load(sys.argv[1])
            d = np.asarray(img.dataobj)
            h = img.header
            print(json.dumps({"shape": list(d.shape), "sform": img.get_sform().tolist(), "qform": img.get_qform().tolist(),
              "codes": [int(h["sform_code"]), int(h["qform_code"])], "v": [float(d[2,1,0]), float(d[0,3,4]), float(d.sum())],
              "descrip": h["descrip"].tobytes().rstrip(b"\0").decode(), "intent": h["intent_name"].tobytes().rstrip(b"\0").decode()}))
            """,
            path);
        // nibabel indexes (i, j, k) = (column, row, slice).
        Assert.Equal([3, 4, 5], r.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(v[0, 1, 2], r.GetProperty("v")[0].GetSingle());
        Assert.Equal(v[4, 3, 0], r.GetProperty("v")[1].GetSingle());
        Assert.Equal(v.Voxels.Sum(x => (double)x), r.GetProperty("v")[2].GetDouble(), 1);
        var lps = v.IndexToLps();
        foreach (var form in new[] { "sform", "qform" })
        {
            var m = r.GetProperty(form);
            for (int row = 0; row < 3; row++)
            {
                double sign = row < 2 ? -1 : 1; // RAS = diag(-1, -1, 1) · LPS
                for (int col = 0; col < 4; col++)
                {
                    Assert.Equal(sign * lps[(row * 4) + col], m[row][col].GetDouble(), 3);
                }
            }
        }

        Assert.Equal([1, 1], r.GetProperty("codes").EnumerateArray().Select(e => e.GetInt32()));
        Assert.StartsWith("SYNTHETIC GenerateCT unit test", r.GetProperty("descrip").GetString());
        Assert.Equal("SYNTHETIC", r.GetProperty("intent").GetString());
    }

    [Fact]
    public async Task A_file_nibabel_wrote_as_scaled_int16_reads_back_with_its_affine_and_HU()
    {
        var path = Path.Combine(dir, "theirs.nii.gz");
        await Nibabel.RunAsync(
            """
            import sys, nibabel as nib, numpy as np
            data = (np.arange(4*3*2, dtype=np.int16).reshape(4, 3, 2) * 10)
            aff = np.array([[-0.75, 0, 0, 90.0], [0, 0.8, 0, -120.0], [0, 0, 2.0, -300.0], [0, 0, 0, 1]])
            img = nib.Nifti1Image(data, aff)
            img.header.set_slope_inter(2.0, -1024.0)
            img.set_qform(aff, 1)
            nib.save(img, sys.argv[1])
            print("{}")
            """,
            path);
        var image = await NiftiFile.ReadAsync(path);
        var v = image.Volume;
        Assert.Equal((2, 3, 4), (v.Depth, v.Height, v.Width));
        Assert.Equal((2 * 10 * ((3 * 3 * 2) + (2 * 2) + 1)) - 1024, v[1, 2, 3]); // voxel (i=3, j=2, k=1)
        Assert.Equal((0.75, 0.8, 2.0), (Math.Round(v.Spacing.X, 4), Math.Round(v.Spacing.Y, 4), Math.Round(v.Spacing.Z, 4)));
        // RAS (90, -120, -300) is LPS (-90, 120, -300); RAS column axis -x is LPS +x; RAS +y row axis is LPS -y.
        Assert.Equal((-90.0, 120.0, -300.0), v.Origin);
        Assert.Equal([1, 0, 0, 0, -1, 0, 0, 0, 1], v.Direction.Select(d => Math.Round(d, 6)));
        Assert.False(image.Metadata.IsSynthetic);
    }

    [Fact]
    public async Task A_truncated_file_is_refused_with_a_message_that_says_so()
    {
        var path = Path.Combine(dir, "cut.nii");
        await NiftiFile.WriteAsync(Oblique(), path);
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length - 10)]);
        var e = await Assert.ThrowsAsync<NiftiFormatException>(() => NiftiFile.ReadAsync(path));
        Assert.Contains("truncated", e.Message);
    }
}
