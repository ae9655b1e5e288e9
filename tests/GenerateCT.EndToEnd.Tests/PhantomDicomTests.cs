using System.Diagnostics;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Testing;

namespace GenerateCT.EndToEnd.Tests;

public class PhantomDicomTests
{
    [Fact]
    public async Task A_phantom_written_as_dicom_and_converted_back_gives_the_same_voxels_and_geometry_for_nibabel_and_pydicom_too()
    {
        var dir = Scratch.NewDirectory("gct-phantom-dicom");
        try
        {
            var phantom = await Gct.RunAsync(TimeSpan.FromMinutes(3), "phantom", "--count", "1", "--out", dir, "--slices", "17", "--size", "64", "--seed", "5", "--findings", "cardiomegaly,pleural-effusion");
            Assert.True(phantom.ExitCode == 0, phantom.Output);
            var series = Path.Combine(dir, "case-0005-dicom");
            Assert.Equal(17, Directory.GetFiles(series, "*.dcm").Length);

            var converted = Path.Combine(dir, "converted.nii.gz");
            var convert = await Gct.RunAsync(TimeSpan.FromMinutes(2), "convert", series, converted);
            Assert.True(convert.ExitCode == 0, convert.Output);

            var original = await NiftiFile.ReadAsync(Path.Combine(dir, "case-0005.nii.gz"));
            var roundTrip = await NiftiFile.ReadAsync(converted);
            Assert.Equal(original.Volume.Voxels, roundTrip.Volume.Voxels);
            Assert.Equal(original.Volume.Spacing, roundTrip.Volume.Spacing);
            Assert.Equal(original.Volume.Origin, roundTrip.Volume.Origin);
            Assert.Equal(original.Volume.Direction, roundTrip.Volume.Direction);

            // Independent readers: nibabel sees the same affine and data in both files, and pydicom's
            // rescaled pixels of the first slice equal the NIfTI's first slice.
            var script = """
                import sys, glob, numpy as np, nibabel as nib, pydicom
                a, b, series = sys.argv[1], sys.argv[2], sys.argv[3]
                na, nb = nib.load(a), nib.load(b)
                assert np.allclose(na.affine, nb.affine, atol=1e-4), (na.affine, nb.affine)
                da, db = np.asarray(na.dataobj, dtype=np.float32), np.asarray(nb.dataobj, dtype=np.float32)
                assert da.shape == db.shape and np.array_equal(da, db)
                slices = [pydicom.dcmread(f) for f in glob.glob(series + '/*.dcm')]
                slices.sort(key=lambda d: float(np.dot(np.cross(np.array(d.ImageOrientationPatient[:3], float), np.array(d.ImageOrientationPatient[3:], float)), np.array(d.ImagePositionPatient, float))))
                first = slices[0].pixel_array * float(slices[0].RescaleSlope) + float(slices[0].RescaleIntercept)
                # NIfTI stores x fastest with i = column; DICOM rows are y: voxel (i=x, j=y, k=0) = pixel[y, x].
                assert np.array_equal(first.T, da[:, :, 0]), 'pydicom slice differs from the NIfTI slice'
                print('ok', da.shape)
                """;
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-c", script, Path.Combine(dir, "case-0005.nii.gz"), converted, series })
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var stdout = await p.StandardOutput.ReadToEndAsync();
            var stderr = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.True(p.ExitCode == 0, stdout + stderr);
            Assert.Contains("ok (64, 64, 17)", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
