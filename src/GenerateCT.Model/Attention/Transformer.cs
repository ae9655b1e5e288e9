using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>Construction options of <see cref="Transformer"/>, named and defaulted as in the reference.</summary>
internal sealed record TransformerOptions
{
    public required long Dim { get; init; }

    public required int Depth { get; init; }

    public long? DimContext { get; init; }

    /// <summary>Causal self-attention (ALiBi + causal mask). Off in every released model.</summary>
    public bool Causal { get; init; }

    public long DimHead { get; init; } = 64;

    public long Heads { get; init; } = 8;

    public double FfMult { get; init; } = 4;

    public bool Peg { get; init; }

    public bool PegCausal { get; init; }

    /// <summary>Null key/value pairs of the cross-attention (self-attention has none).</summary>
    public long AttnNumNullKv { get; init; } = 2;

    public bool HasCrossAttn { get; init; }

    public double AttnDropout { get; init; }

    public double FfDropout { get; init; }
}

/// <summary>
/// One layer of <see cref="Transformer"/>, keeping the reference ModuleList indices:
/// <c>0</c> PEG (optional), <c>1</c> self-attention, <c>2</c> cross-attention (optional), <c>3</c> feed-forward.
/// An absent entry has no state-dict keys, as a <c>None</c> in the reference list.
/// </summary>
internal sealed class TransformerLayer : nn.Module
{
    public TransformerLayer(Peg? peg, CosineSimAttention selfAttn, CosineSimAttention? crossAttn, FeedForward ff)
        : base(nameof(TransformerLayer))
    {
        PegModule = peg;
        SelfAttn = selfAttn;
        CrossAttn = crossAttn;
        Ff = ff;
        if (peg is not null)
        {
            register_module("0", peg);
        }

        register_module("1", selfAttn);
        if (crossAttn is not null)
        {
            register_module("2", crossAttn);
        }

        register_module("3", ff);
    }

    public Peg? PegModule { get; }

    public CosineSimAttention SelfAttn { get; }

    public CosineSimAttention? CrossAttn { get; }

    public FeedForward Ff { get; }

    protected override void RegisterComponents()
    {
        // Registered explicitly under the reference indices.
    }
}

/// <summary>
/// The reference pre-norm transformer (attention.py <c>Transformer</c>): per layer
/// x = PEG(x) + x, x = SelfAttn(x) + x, x = CrossAttn(x, context) + x, x = FF(x) + x, then
/// <c>norm_out</c> (a <see cref="GammaLayerNorm"/>). Used by CT-ViT (spatial and temporal, causal PEG,
/// no cross-attention) and MaskGIT (non-causal PEG, cross-attention with 2 null k/v).
/// </summary>
internal sealed class Transformer : nn.Module
{
    private readonly ModuleList<TransformerLayer> layers;
    private readonly GammaLayerNorm norm_out;

    public Transformer(TransformerOptions options) : base(nameof(Transformer))
    {
        Options = options;
        layers = new ModuleList<TransformerLayer>();
        for (int i = 0; i < options.Depth; i++)
        {
            layers.append(new TransformerLayer(
                options.Peg ? new Peg(options.Dim, options.PegCausal) : null,
                new CosineSimAttention(options.Dim, dimHead: options.DimHead, heads: options.Heads, causal: options.Causal, dropout: options.AttnDropout),
                options.HasCrossAttn
                    ? new CosineSimAttention(options.Dim, dimContext: options.DimContext, dimHead: options.DimHead, heads: options.Heads, causal: false, numNullKv: options.AttnNumNullKv, dropout: options.AttnDropout)
                    : null,
                new FeedForward(options.Dim, options.FfMult, options.FfDropout)));
        }

        norm_out = new GammaLayerNorm(options.Dim);
        RegisterComponents();
    }

    public TransformerOptions Options { get; }

    public IReadOnlyList<TransformerLayer> Layers => [.. layers];

    /// <param name="x">(B', N, D) tokens.</param>
    /// <param name="videoShape">(b, t, h, w) the tokens were flattened from; required when the layers have a PEG.</param>
    /// <param name="attnBias">Self-attention bias (heads, N, N).</param>
    /// <param name="context">Cross-attention context (B', J, dim_context); cross-attention is skipped when null.</param>
    /// <param name="selfAttnMask">(B', N) bool.</param>
    /// <param name="crossAttnContextMask">(B', J) bool.</param>
    /// <param name="pegLayout">How the PEG maps the flat tokens onto the grid (the released code: memory order).</param>
    public Tensor forward(
        Tensor x,
        (long B, long T, long H, long W)? videoShape = null,
        Tensor? attnBias = null,
        Tensor? context = null,
        Tensor? selfAttnMask = null,
        Tensor? crossAttnContextMask = null,
        PegLayout pegLayout = PegLayout.MemoryOrder)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers)
        {
            // One scope per layer, so a layer's temporaries are released before the next layer runs
            // (autograd keeps what backward needs through its own references).
            using var layerScope = NewDisposeScope();
            if (layer.PegModule is { } peg)
            {
                var shape = videoShape ?? throw new ArgumentException("a transformer with PEG needs the video shape (b, t, h, w)", nameof(videoShape));
                x = peg.forward(x, shape, pegLayout) + x;
            }

            x = layer.SelfAttn.forward(x, selfAttnMask, null, attnBias) + x;

            if (layer.CrossAttn is { } cross && context is not null)
            {
                x = cross.forward(x, crossAttnContextMask, context, null) + x;
            }

            x = (layer.Ff.forward(x) + x).MoveToOuterDisposeScope();
        }

        return norm_out.forward(x).MoveToOuterDisposeScope();
    }
}
