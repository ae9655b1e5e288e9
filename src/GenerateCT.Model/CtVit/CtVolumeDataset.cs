using GenerateCT.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// Training samples for CT-ViT built from HU volumes, preprocessed as the released pipeline does:
/// clip to [-1000, 1000] HU, divide by 1000 (range [-1, 1]), resample (trilinear) to the config's
/// frames × image × image. Samples are kept on the CPU as (1, frames, size, size) float32.
/// </summary>
public sealed class CtVolumeDataset : IDisposable
{
    private readonly List<Tensor> _samples = [];

    public CtVolumeDataset(IEnumerable<Volume> volumes, CtVitConfig config, int? frames = null)
    {
        Frames = frames ?? config.Frames;
        config.EnsureValidFrameCount(Frames);
        Size = config.ImageSize;
        foreach (var volume in volumes)
        {
            _samples.Add(Preprocess(volume, Frames, Size));
        }

        if (_samples.Count == 0)
        {
            throw new ArgumentException("the dataset needs at least one volume", nameof(volumes));
        }
    }

    public int Frames { get; }

    public long Size { get; }

    public int Count => _samples.Count;

    /// <summary>Sample i, (1, frames, size, size) in [-1, 1].</summary>
    public Tensor this[int index] => _samples[index];

    /// <summary>Stacks samples into a (b, 1, frames, size, size) batch on <paramref name="device"/>.</summary>
    public Tensor Batch(IReadOnlyList<int> indices, Device device)
    {
        using var scope = NewDisposeScope();
        var batch = stack(indices.Select(i => _samples[i]).ToArray()).to(device);
        return batch.MoveToOuterDisposeScope();
    }

    /// <summary>HU volume (Z×H×W) → (1, frames, size, size): clip [-1000, 1000], ÷1000, trilinear resample.</summary>
    public static Tensor Preprocess(Volume volume, long frames, long size)
    {
        using var scope = NewDisposeScope();
        var t = tensor(volume.Voxels, [1, 1, volume.Depth, volume.Height, volume.Width]);
        t = t.clamp(-1000, 1000) / 1000;
        if (volume.Depth != frames || volume.Height != size || volume.Width != size)
        {
            t = nn.functional.interpolate(t, [frames, size, size], mode: InterpolationMode.Trilinear, align_corners: false);
        }

        return t[0].contiguous().MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var s in _samples)
        {
            s.Dispose();
        }

        _samples.Clear();
    }
}
