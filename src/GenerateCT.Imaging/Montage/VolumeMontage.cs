using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace GenerateCT.Imaging.Montage;

/// <summary>
/// A preview sheet of a CT volume: the axial, coronal and sagittal mid-slices on top, and a strip of
/// evenly spaced axial slices below. Views are resampled to square physical pixels so anisotropic
/// volumes (thick slices) are not squashed. Display conventions are radiological: axial with anterior up
/// and patient right on the image left; coronal and sagittal with superior up; sagittal with anterior left.
/// </summary>
public static class VolumeMontage
{
    private const int Gap = 4;

    /// <summary>Renders the sheet; <paramref name="viewSize"/> is the edge of each large view in pixels.</summary>
    public static Image<L8> Render(Volume volume, CtWindow window, int stripSlices = 8, int viewSize = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stripSlices, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(viewSize, 16);
        RequireHu(volume);

        // Superior at the top: when the slice axis points up (+z in LPS is superior), the last slice is drawn first.
        bool sliceAxisUp = volume.Direction[8] >= 0;
        int zm = volume.Depth / 2, ym = volume.Height / 2, xm = volume.Width / 2;
        var axial = new View(volume.Width, volume.Height, volume.Spacing.X, volume.Spacing.Y, (c, r) => volume[zm, r, c]);
        var coronal = new View(volume.Width, volume.Depth, volume.Spacing.X, volume.Spacing.Z, (c, r) => volume[sliceAxisUp ? volume.Depth - 1 - r : r, ym, c]);
        var sagittal = new View(volume.Height, volume.Depth, volume.Spacing.Y, volume.Spacing.Z, (c, r) => volume[sliceAxisUp ? volume.Depth - 1 - r : r, c, xm]);
        View[] top = [axial, coronal, sagittal];

        int stripSize = stripSlices == 0 ? 0 : Math.Max(16, ((3 * viewSize) + (2 * Gap) - ((stripSlices - 1) * Gap)) / stripSlices);
        int width = (3 * viewSize) + (4 * Gap);
        int height = viewSize + (2 * Gap) + (stripSlices == 0 ? 0 : stripSize + Gap);
        var image = new Image<L8>(width, height, new L8(0));
        for (int i = 0; i < top.Length; i++)
        {
            Blit(image, top[i], window, Gap + (i * (viewSize + Gap)), Gap, viewSize);
        }

        for (int i = 0; i < stripSlices; i++)
        {
            // Evenly spaced from inferior to superior, skipping the very first and last slice.
            int z = (int)Math.Round((i + 1) * (volume.Depth - 1) / (double)(stripSlices + 1));
            int zz = sliceAxisUp ? z : volume.Depth - 1 - z;
            var view = new View(volume.Width, volume.Height, volume.Spacing.X, volume.Spacing.Y, (c, r) => volume[zz, r, c]);
            Blit(image, view, window, Gap + (i * (stripSize + Gap)), viewSize + (2 * Gap), stripSize);
        }

        return image;
    }

    /// <summary>Renders and writes a PNG.</summary>
    public static async Task SavePngAsync(Volume volume, string path, CtWindow window, int stripSlices = 8, int viewSize = 256, CancellationToken cancellationToken = default)
    {
        using var image = Render(volume, window, stripSlices, viewSize);
        await image.SaveAsPngAsync(path, cancellationToken);
    }

    private sealed record View(int Columns, int Rows, double ColumnMm, double RowMm, Func<int, int, float> Sample);

    /// <summary>Fits the view into a size×size box keeping physical aspect, bilinear, centred.</summary>
    private static void Blit(Image<L8> image, View view, CtWindow window, int left, int top, int size)
    {
        double widthMm = view.Columns * view.ColumnMm, heightMm = view.Rows * view.RowMm;
        double mmPerPixel = Math.Max(widthMm, heightMm) / size;
        int w = Math.Max(1, (int)Math.Round(widthMm / mmPerPixel));
        int h = Math.Max(1, (int)Math.Round(heightMm / mmPerPixel));
        int ox = left + ((size - w) / 2), oy = top + ((size - h) / 2);
        for (int py = 0; py < h; py++)
        {
            double r = Math.Clamp((((py + 0.5) * mmPerPixel) / view.RowMm) - 0.5, 0, view.Rows - 1);
            int r0 = (int)r, r1 = Math.Min(r0 + 1, view.Rows - 1);
            float fr = (float)(r - r0);
            for (int px = 0; px < w; px++)
            {
                double c = Math.Clamp((((px + 0.5) * mmPerPixel) / view.ColumnMm) - 0.5, 0, view.Columns - 1);
                int c0 = (int)c, c1 = Math.Min(c0 + 1, view.Columns - 1);
                float fc = (float)(c - c0);
                float top0 = view.Sample(c0, r0) + ((view.Sample(c1, r0) - view.Sample(c0, r0)) * fc);
                float bottom = view.Sample(c0, r1) + ((view.Sample(c1, r1) - view.Sample(c0, r1)) * fc);
                image[ox + px, oy + py] = new L8(window.Map(top0 + ((bottom - top0) * fr)));
            }
        }
    }

    private static void RequireHu(Volume v)
    {
        if (v.Unit != "HU")
        {
            throw new InvalidOperationException($"montage windows are in HU but the volume is in {v.Unit}; denormalize it first (CtIntensity.Denormalize)");
        }
    }
}
