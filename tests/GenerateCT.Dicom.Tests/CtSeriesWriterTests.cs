using GenerateCT.Testing;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

public class CtSeriesWriterTests
{
    [Fact]
    public void Each_slice_carries_its_position_along_the_slice_axis_and_the_HU_values_through_the_rescale()
    {
        var volume = SampleData.Phantom(depth: 3, size: 16);
        volume.Direction = [1, 0, 0, 0, 0, -1, 0, 1, 0]; // coronal: rows run inferior, slices posterior
        var series = CtSeriesWriter.CreateInstances(volume, new CtSeriesOptions { RescaleIntercept = -1024, PatientName = "X" });

        Assert.Equal(3, series.Count);
        Assert.Single(series.Select(s => s.GetUid(DicomTag.SeriesInstanceUID)).Distinct());
        Assert.Equal(3, series.Select(s => s.GetUid(DicomTag.SOPInstanceUID)).Distinct().Count());
        for (int z = 0; z < 3; z++)
        {
            var ds = series[z];
            var ipp = ds.GetDoubles(DicomTag.ImagePositionPatient);
            Assert.Equal([-12.0, -11.0 + z * 2.5, -40.0], ipp);
            Assert.Equal([1.0, 0, 0, 0, 0, -1], ds.GetDoubles(DicomTag.ImageOrientationPatient));
            Assert.Equal([0.75, 0.7], ds.GetDoubles(DicomTag.PixelSpacing));
            Assert.Equal(2.5, ds.GetDouble(DicomTag.SliceThickness));
            Assert.Equal(-1024, ds.GetDouble(DicomTag.RescaleIntercept));
            Assert.Equal(1, ds.GetInt32(DicomTag.PixelRepresentation));
            var pixels = ds.GetBytes(DicomTag.PixelData).Span;
            Assert.Equal(16 * 16 * 2, pixels.Length);
            int i = 7 * 16 + 7; // centre: bone rod, 700 + z HU
            short stored = (short)(pixels[2 * i] | (pixels[2 * i + 1] << 8));
            Assert.Equal(volume[z, 7, 7], stored - 1024);
        }

        Assert.False(CtSeriesWriter.IsSynthetic(series[0]));
        Assert.Equal(["ORIGINAL", "PRIMARY", "AXIAL"], series[0].GetStrings(DicomTag.ImageType));
    }

    [Fact]
    public void Synthetic_series_are_marked_derived_with_the_detectable_marker()
    {
        var ds = SampleData.CtSeries(depth: 1, size: 8, synthetic: true)[0];
        Assert.True(CtSeriesWriter.IsSynthetic(ds));
        Assert.Equal(["DERIVED", "SECONDARY", "AXIAL"], ds.GetStrings(DicomTag.ImageType));
        Assert.Equal("NO", ds.GetString(DicomTag.BurnedInAnnotation));
        Assert.Equal(CtSeriesWriter.SyntheticMarker, ds.GetString(DicomTag.DerivationDescription));
        Assert.Equal(CtSeriesWriter.SyntheticSeriesDescription, ds.GetString(DicomTag.SeriesDescription));
        Assert.Equal("Doe^Jane", ds.GetString(DicomTag.PatientName));
        Assert.Equal("064Y", ds.GetString(DicomTag.PatientAge));
        Assert.Equal("ACC42", ds.GetString(DicomTag.AccessionNumber));
    }

    [Fact]
    public async Task Written_series_is_read_by_pydicom_with_matching_geometry()
    {
        using var dir = new Scratch("gct-ct");
        var paths = await CtSeriesWriter.WriteAsync(SampleData.Phantom(depth: 2, size: 8), dir.Path, new CtSeriesOptions { PatientName = "A^B" });
        Assert.Equal(2, paths.Count);
        var script = "import pydicom,sys\nfor p in sys.argv[1:]:\n d=pydicom.dcmread(p)\n a=d.pixel_array\n print(d.Modality, [float(x) for x in d.ImagePositionPatient], a.shape, int(a[0,0]), float(d.RescaleSlope))";
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var p in paths)
        {
            psi.ArgumentList.Add(p);
        }

        using var proc = System.Diagnostics.Process.Start(psi)!;
        var output = await proc.StandardOutput.ReadToEndAsync();
        var error = await proc.StandardError.ReadToEndAsync();
        await proc.WaitForExitAsync();
        Assert.True(proc.ExitCode == 0, error);
        var lines = output.Trim().Split('\n');
        Assert.Equal("CT [-12.0, -11.0, -40.0] (8, 8) -1000 1.0", lines[0]);
        Assert.Equal("CT [-12.0, -11.0, -37.5] (8, 8) -1000 1.0", lines[1]);
    }
}
