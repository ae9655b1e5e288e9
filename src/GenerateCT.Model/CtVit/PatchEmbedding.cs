using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// Tubelet embedding (paper §3.2): cuts (b, c, t·pt, H, W) into pt×p×p tubelets flattened in
/// (c pt p1 p2) order, then <c>1</c> nn.LayerNorm → <c>2</c> Linear to dim → <c>3</c> nn.LayerNorm
/// (index 0 is the reference's parameter-free Rearrange). With pt = 1 it is the first-slice embedding
/// (<c>to_patch_emb_first_frame</c>, flattened (c p1 p2)). Output (b, t, h, w, dim).
/// </summary>
internal sealed class PatchEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm _inNorm;
    private readonly Linear _proj;
    private readonly LayerNorm _outNorm;

    public PatchEmbedding(long channels, long patchSize, long temporalPatchSize, long dim) : base(nameof(PatchEmbedding))
    {
        Channels = channels;
        PatchSize = patchSize;
        TemporalPatchSize = temporalPatchSize;
        long patchDim = channels * patchSize * patchSize * temporalPatchSize;
        _inNorm = nn.LayerNorm(patchDim);
        _proj = nn.Linear(patchDim, dim);
        _outNorm = nn.LayerNorm(dim);
        register_module("1", _inNorm);
        register_module("2", _proj);
        register_module("3", _outNorm);
    }

    public long Channels { get; }

    public long PatchSize { get; }

    public long TemporalPatchSize { get; }

    public override Tensor forward(Tensor video)
    {
        using var scope = NewDisposeScope();
        long b = video.shape[0], c = video.shape[1];
        long t = video.shape[2] / TemporalPatchSize, h = video.shape[3] / PatchSize, w = video.shape[4] / PatchSize;
        long p = PatchSize, pt = TemporalPatchSize;
        // b c (t pt) (h p1) (w p2) → b t h w (c pt p1 p2)
        var patches = video.reshape(b, c, t, pt, h, p, w, p)
            .permute(0, 2, 4, 6, 1, 3, 5, 7)
            .reshape(b, t, h, w, c * pt * p * p);
        var tokens = _outNorm.forward(_proj.forward(_inNorm.forward(patches)));
        return tokens.MoveToOuterDisposeScope();
    }

    protected override void RegisterComponents()
    {
        // Registered under the reference Sequential indices "1".."3".
    }
}

/// <summary>
/// The inverse head: <c>0</c> Linear(dim, c·pt·p·p), then (b, t, h, w, (c pt p1 p2)) →
/// (b, c, t·pt, H, W). No output activation (the reference has none).
/// </summary>
internal sealed class PixelProjection : nn.Module<Tensor, Tensor>
{
    private readonly Linear _proj;

    public PixelProjection(long channels, long patchSize, long temporalPatchSize, long dim) : base(nameof(PixelProjection))
    {
        Channels = channels;
        PatchSize = patchSize;
        TemporalPatchSize = temporalPatchSize;
        _proj = nn.Linear(dim, channels * patchSize * patchSize * temporalPatchSize);
        register_module("0", _proj);
    }

    public long Channels { get; }

    public long PatchSize { get; }

    public long TemporalPatchSize { get; }

    /// <summary>The last decoder layer (the reference adapts the GAN weight on its gradient).</summary>
    public Linear Projection => _proj;

    public override Tensor forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        long b = tokens.shape[0], t = tokens.shape[1], h = tokens.shape[2], w = tokens.shape[3];
        long c = Channels, p = PatchSize, pt = TemporalPatchSize;
        var y = _proj.forward(tokens)
            .reshape(b, t, h, w, c, pt, p, p)
            .permute(0, 4, 1, 5, 2, 6, 3, 7)
            .reshape(b, c, t * pt, h * p, w * p);
        return y.MoveToOuterDisposeScope();
    }

    protected override void RegisterComponents()
    {
        // Registered under the reference Sequential index "0".
    }
}
