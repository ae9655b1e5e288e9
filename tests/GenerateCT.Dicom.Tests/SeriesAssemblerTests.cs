using GenerateCT.Testing;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;

namespace GenerateCT.Dicom.Tests;

public class SeriesAssemblerTests
{
    private static List<DicomFile> Write(Volume v, CtSeriesOptions? o = null) =>
        CtSeriesWriter.CreateInstances(v, o ?? new CtSeriesOptions { RescaleIntercept = -1024 }).Select(ds => new DicomFile(ds)).ToList();

    [Fact]
    public void Shuffled_slices_rebuild_the_written_HU_volume_with_its_geometry()
    {
        var v = SampleData.Phantom(depth: 6, size: 24, sliceSpacing: 1.25);
        var files = Write(v);
        files.Reverse();
        (files[1], files[4]) = (files[4], files[1]);

        var result = SeriesAssembler.Assemble(files);
        Assert.Empty(result.Rejected);
        var a = Assert.Single(result.Volumes);
        Assert.Equal((6, 24, 24), (a.Volume.Depth, a.Volume.Height, a.Volume.Width));
        Assert.Equal(v.Voxels, a.Volume.Voxels);
        Assert.Equal(1.25, a.Volume.Spacing.Z, 6);
        Assert.Equal((0.75, 0.7), (a.Volume.Spacing.Y, a.Volume.Spacing.X));
        Assert.Equal(v.Origin, a.Volume.Origin);
        Assert.Equal(v.Direction, a.Volume.Direction);
        Assert.Equal("HU", a.Volume.Unit);
    }

    [Fact]
    public void Rescale_slope_and_intercept_are_applied_per_slice()
    {
        var v = SampleData.Phantom(depth: 2, size: 8);
        var files = Write(v, new CtSeriesOptions { RescaleSlope = 0.5, RescaleIntercept = -1024 });
        var a = SeriesAssembler.Assemble(files).Volumes.Single().Volume;
        Assert.Equal(-1000f, a[0, 0, 0]);
        Assert.Equal(v[1, 3, 3], a[1, 3, 3]);
    }

    [Fact]
    public void A_missing_slice_rejects_the_series_with_the_gap_named()
    {
        var files = Write(SampleData.Phantom(depth: 6, size: 8, sliceSpacing: 2));
        files.RemoveAt(3);
        var result = SeriesAssembler.Assemble(files);
        Assert.Empty(result.Volumes);
        var r = Assert.Single(result.Rejected);
        Assert.Contains("missing slice(s): gap of 4 mm", r.Reason);
        Assert.Equal(5, r.InstanceCount);
    }

    [Fact]
    public void Inconsistent_spacing_is_rejected_or_split_on_request()
    {
        var a = SampleData.Phantom(depth: 4, size: 8, sliceSpacing: 1);
        var b = SampleData.Phantom(depth: 4, size: 8, sliceSpacing: 2.5);
        b.Origin = (a.Origin.X, a.Origin.Y, a.Origin.Z + 3 + 1.7);
        var common = new CtSeriesOptions { StudyInstanceUid = DicomUid.Generate(), SeriesInstanceUid = DicomUid.Generate(), FrameOfReferenceUid = DicomUid.Generate() };
        var files = Write(a, common).Concat(Write(b, common)).ToList();

        var rejected = SeriesAssembler.Assemble(files);
        Assert.Empty(rejected.Volumes);
        Assert.Contains("spacing", Assert.Single(rejected.Rejected).Reason);

        var split = SeriesAssembler.Assemble(files, new SeriesAssemblerOptions { SplitInconsistentSpacing = true });
        Assert.Equal(2, split.Volumes.Count);
        Assert.Equal(1, split.Volumes[0].Volume.Spacing.Z, 6);
        Assert.Equal(2.5, split.Volumes[1].Volume.Spacing.Z, 6);
    }

    [Fact]
    public void Mixed_orientations_in_one_series_are_split_and_separate_series_stay_separate()
    {
        var axial = SampleData.Phantom(depth: 3, size: 8);
        var coronal = SampleData.Phantom(depth: 3, size: 8);
        coronal.Direction = [1, 0, 0, 0, 0, -1, 0, 1, 0];
        var shared = new CtSeriesOptions { StudyInstanceUid = DicomUid.Generate(), SeriesInstanceUid = DicomUid.Generate() };
        var other = new CtSeriesOptions { StudyInstanceUid = shared.StudyInstanceUid };
        var files = Write(axial, shared).Concat(Write(coronal, shared)).Concat(Write(axial, other)).ToList();

        var result = SeriesAssembler.Assemble(files);
        Assert.Empty(result.Rejected);
        Assert.Equal(3, result.Volumes.Count);
        Assert.Equal(2, result.Volumes.Count(v => v.SeriesInstanceUid == shared.SeriesInstanceUid));
        Assert.All(result.Volumes.Where(v => v.SeriesInstanceUid == shared.SeriesInstanceUid), v => Assert.Contains("split", v.Note));
    }

    [Fact]
    public void Duplicate_positions_are_rejected()
    {
        var v = SampleData.Phantom(depth: 3, size: 8);
        var o = new CtSeriesOptions { StudyInstanceUid = DicomUid.Generate(), SeriesInstanceUid = DicomUid.Generate(), FrameOfReferenceUid = DicomUid.Generate() };
        var files = Write(v, o).Concat(Write(v, o)).ToList();
        Assert.Contains("duplicate slice position", Assert.Single(SeriesAssembler.Assemble(files).Rejected).Reason);
    }

    [Fact]
    public async Task Compressed_series_from_dcmtk_assemble_to_the_same_volume()
    {
        using var dir = new GenerateCT.Testing.Scratch("gct-asm");
        var v = SampleData.Phantom(depth: 3, size: 16);
        var files = Write(v);
        var rle = new List<DicomFile>();
        foreach (var (f, i) in files.Select((f, i) => (f, i)))
        {
            var native = dir.Combine($"{i}.dcm");
            await f.SaveAsync(native);
            var compressed = dir.Combine($"{i}.rle.dcm");
            var r = await GenerateCT.Testing.Dicom.DcmtkTool.RunAsync(i % 2 == 0 ? "dcmcrle" : "dcmcjpeg", [native, compressed]);
            Assert.True(r.ExitCode == 0, r.Output);
            rle.Add(await DicomFile.OpenAsync(compressed));
        }

        var a = SeriesAssembler.Assemble(rle).Volumes.Single().Volume;
        Assert.Equal(v.Voxels, a.Voxels);
    }
}
