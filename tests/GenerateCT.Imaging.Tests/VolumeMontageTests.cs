using GenerateCT.Imaging.Montage;
using GenerateCT.Imaging.Phantoms;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GenerateCT.Imaging.Tests;

public sealed class VolumeMontageTests
{
    [Fact]
    public void Windows_map_their_bounds_to_black_and_white()
    {
        Assert.Equal(0, CtWindow.Lung.Map(-1000));
        Assert.Equal(255, CtWindow.Lung.Map(150));
        Assert.Equal(0, CtWindow.Mediastinal.Map(-125));
        Assert.Equal(255, CtWindow.Mediastinal.Map(225));
        Assert.Equal(128, CtWindow.Raw.Map(0));
        Assert.Equal(CtWindow.Mediastinal, CtWindow.Parse("mediastinal"));
        Assert.Throws<ArgumentException>(() => CtWindow.Parse("bone"));
    }

    [Fact]
    public async Task A_phantom_montage_is_a_PNG_with_lungs_dark_in_the_lung_window_and_soft_tissue_grey()
    {
        var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 2, Slices = 32, Size = 64 });
        using var image = VolumeMontage.Render(c.Volume, CtWindow.Lung, stripSlices: 6, viewSize: 128);
        Assert.Equal((3 * 128) + (4 * 4), image.Width);
        Assert.True(image.Height > 128 + 8);

        // The axial view is centred in the first 128×128 box; the right lung sits left of the image centre.
        var lung = image[4 + 64 - 30, 4 + 64];
        var heart = image[4 + 64 + 12, 4 + 64 - 12];
        Assert.InRange(lung.PackedValue, 0, 60);       // −860 HU in [−1000, 150]
        Assert.InRange(heart.PackedValue, 200, 255);  // +42 HU

        var path = Path.Combine(Path.GetTempPath(), $"gct-montage-{Guid.NewGuid():N}.png");
        try
        {
            await VolumeMontage.SavePngAsync(c.Volume, path, CtWindow.Mediastinal);
            using var png = await Image.LoadAsync<L8>(path);
            Assert.Equal((3 * 256) + (4 * 4), png.Width);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_normalized_volume_is_refused_until_it_is_back_in_HU()
    {
        var v = new Volume(4, 4, 4).Normalize(ModelIntensityRange.Symmetric);
        Assert.Throws<InvalidOperationException>(() => VolumeMontage.Render(v, CtWindow.Raw));
    }
}
