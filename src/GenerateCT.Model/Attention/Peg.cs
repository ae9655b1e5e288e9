using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>How a flat (B', N, D) token tensor is mapped onto the (b, t, h, w) video grid before the PEG convolution.</summary>
internal enum PegLayout
{
    /// <summary>
    /// The released code: a row-major reshape of the contiguous tensor to (b, t, h, w, d), whatever the
    /// actual token order. For temporal transformers, whose input is laid out (b h w) t d, this runs the
    /// convolution on a scrambled view of the tokens; the released weights were trained that way.
    /// </summary>
    MemoryOrder,

    /// <summary>The input is (b h w) t d and is rearranged semantically to (b, t, h, w, d) and back.</summary>
    SpatialMajor,
}

/// <summary>
/// Position-generating module (Chu et al. 2021, "Conditional Positional Encodings"): a depthwise
/// Conv3d(dim, dim, 3, groups = dim) with bias over (t, h, w), zero padding 1 in h and w and, in time,
/// (2, 0) when causal or (1, 1) otherwise. The caller adds the residual.
/// </summary>
internal sealed class Peg : nn.Module<Tensor, Tensor>
{
    private readonly Conv3d dsconv;

    public Peg(long dim, bool causal = false) : base(nameof(Peg))
    {
        Causal = causal;
        dsconv = nn.Conv3d(dim, dim, 3, groups: dim);
        RegisterComponents();
    }

    public bool Causal { get; }

    /// <summary>Input already shaped (b, t, h, w, d).</summary>
    public override Tensor forward(Tensor x) => Convolve(x);

    /// <summary>Input (B', N, D) flattened from the video grid <paramref name="shape"/> = (b, t, h, w).</summary>
    public Tensor forward(Tensor x, (long B, long T, long H, long W) shape, PegLayout layout = PegLayout.MemoryOrder)
    {
        using var scope = NewDisposeScope();
        var origShape = x.shape;
        var (b, t, h, w) = shape;
        Tensor grid = layout switch
        {
            // b t h w d, by memory order (the reference `x.reshape(*shape, -1)`)
            PegLayout.MemoryOrder => x.reshape(b, t, h, w, -1),
            // (b h w) t d → b h w t d → b t h w d
            PegLayout.SpatialMajor => x.reshape(b, h, w, t, -1).permute(0, 3, 1, 2, 4),
            _ => throw new ArgumentOutOfRangeException(nameof(layout)),
        };
        var y = Convolve(grid); // b t h w d
        Tensor flat = layout switch
        {
            PegLayout.MemoryOrder => y.reshape(origShape),
            _ => y.permute(0, 2, 3, 1, 4).reshape(origShape),
        };
        return flat.MoveToOuterDisposeScope();
    }

    private Tensor Convolve(Tensor x)
    {
        using var scope = NewDisposeScope();
        var channelsFirst = x.permute(0, 4, 1, 2, 3); // b d t h w
        long[] pad = Causal ? [1, 1, 1, 1, 2, 0] : [1, 1, 1, 1, 1, 1];
        var padded = nn.functional.pad(channelsFirst, pad, PaddingModes.Constant, 0);
        var y = dsconv.forward(padded).permute(0, 2, 3, 4, 1); // b t h w d
        return y.MoveToOuterDisposeScope();
    }
}
