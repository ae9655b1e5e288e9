using GenerateCT.Model.Attention;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>How the 3-D continuous position bias is evaluated.</summary>
public enum PositionBiasMethod
{
    /// <summary>
    /// The MLP runs once per distinct offset ((2t−1)(2h−1)(2w−1) of them) and the (heads, n, n) bias is
    /// gathered from that table. At 101×8×8 tokens: 3,825 MLP rows instead of 41.8 million.
    /// </summary>
    OffsetTable,

    /// <summary>The reference: the MLP over all n² token pairs (≈10 GB of activations at 101×8×8).</summary>
    AllPairs,
}

/// <summary>
/// Offset-table evaluation of <see cref="ContinuousPositionBias"/> over a (t, h, w) grid. The bias of a
/// pair depends only on pos_i − pos_j, so evaluating the MLP on every pair repeats each offset's value
/// many times; here each offset is evaluated once and the pairs index into it. The gather index is
/// cached per grid size (gradients still flow into the MLP through the table).
/// </summary>
internal sealed class RelativePositionBias3d : IDisposable
{
    private readonly Dictionary<(long T, long H, long W, string Device), Tensor> _indexCache = [];
    private readonly Lock _gate = new();

    /// <summary>(heads, n, n) with n = t·h·w, equal to <c>bias.forward(device, t, h, w)</c>.</summary>
    public Tensor Compute(ContinuousPositionBias bias, long t, long h, long w, Device device)
    {
        using var scope = NewDisposeScope();
        var offsets = OffsetGrid(t, h, w, device);          // (2t−1)(2h−1)(2w−1) × 3
        var logSpaced = offsets.sign() * (offsets.abs() + 1).log();
        var table = bias.forward(logSpaced.unsqueeze(0));   // heads × 1 × K
        table = table.squeeze(1);                           // heads × K
        var n = t * h * w;
        var index = PairIndex(t, h, w, device);             // n·n
        return table.index_select(1, index).reshape(table.shape[0], n, n).MoveToOuterDisposeScope();
    }

    /// <summary>All offsets (dt, dh, dw), dt ∈ [−(t−1), t−1] …, in row-major order of (dt, dh, dw).</summary>
    private static Tensor OffsetGrid(long t, long h, long w, Device device)
    {
        using var scope = NewDisposeScope();
        var axes = new[] { t, h, w }.Select(d => arange(-(d - 1), d, dtype: float32, device: device)).ToArray();
        var grids = meshgrid(axes, indexing: "ij");
        return stack(grids, -1).reshape(-1, 3).MoveToOuterDisposeScope();
    }

    /// <summary>Row-major index into the offset grid of pos_i − pos_j for every (i, j), flattened.</summary>
    private Tensor PairIndex(long t, long h, long w, Device device)
    {
        var key = (t, h, w, device.ToString());
        lock (_gate)
        {
            if (_indexCache.TryGetValue(key, out var cached))
            {
                return cached;
            }

            using var scope = NewDisposeScope();
            var n = t * h * w;
            var flat = arange(n, dtype: int32, device: device);
            var ti = flat.div(h * w, rounding_mode: RoundingMode.floor);
            var hi = flat.div(w, rounding_mode: RoundingMode.floor).remainder(h);
            var wi = flat.remainder(w);
            // The offset index is linear in the coordinates: with strides S_t = (2h−1)(2w−1), S_h = 2w−1,
            // idx(i, j) = code(i) − code(j) + code(t−1, h−1, w−1) where code = t·S_t + h·S_h + w.
            // int32 halves the n×n index (167 MB at n = 6464); K < 2³¹ for any grid that fits in memory.
            var strideT = ((2 * h) - 1) * ((2 * w) - 1);
            var strideH = (2 * w) - 1;
            var code = (ti * strideT) + (hi * strideH) + wi;
            var centre = ((t - 1) * strideT) + ((h - 1) * strideH) + (w - 1);
            var index = code.unsqueeze(1) - code.unsqueeze(0); // i j
            index.add_(centre);
            index = index.reshape(-1);
            index = index.DetachFromDisposeScope();
            _indexCache[key] = index;
            return index;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var t in _indexCache.Values)
            {
                t.Dispose();
            }

            _indexCache.Clear();
        }
    }
}
