using GenerateCT.Model.Attention;
using Transformer = GenerateCT.Model.Attention.Transformer;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>
/// The bidirectional MaskGIT transformer of GenerateCT (MaskGITTransformer.py <c>MaskGit</c>; Chang et
/// al. 2022): CT-ViT codebook ids (mask id = num_tokens) + learned positions → PEG / self-attention with
/// the 3-D continuous position bias / cross-attention to the T5 prompt embeddings (2 null k/v, context
/// norm) / feed-forward → logits over the codebook. Module names match the reference state dict.
/// </summary>
public sealed class MaskGit : nn.Module
{
    private readonly Embedding token_emb;
    private readonly Embedding pos_emb;
    private readonly ContinuousPositionBias continuous_pos_bias;
    private readonly Transformer transformer;
    private readonly Linear to_logits;
    private readonly RelativePositionBias3d _offsetTable = new();

    public MaskGit(MaskGitConfig config) : base(nameof(MaskGit))
    {
        Config = config;
        token_emb = nn.Embedding(config.NumTokens + 1, config.Dim); // the last row is the mask token
        pos_emb = nn.Embedding(config.MaxSeqLen, config.Dim);
        continuous_pos_bias = new ContinuousPositionBias(config.DimHead, config.Heads, numDims: 3);
        transformer = new Transformer(TokenSequence.TransformerOptions(config));
        to_logits = nn.Linear(config.Dim, config.NumTokens);
        register_module(nameof(token_emb), token_emb);
        register_module(nameof(pos_emb), pos_emb);
        register_module(nameof(continuous_pos_bias), continuous_pos_bias);
        register_module(nameof(transformer), transformer);
        register_module(nameof(to_logits), to_logits);
    }

    public MaskGitConfig Config { get; }

    /// <summary>How the 3-D position bias is evaluated; both give the same numbers (see tests).</summary>
    public PositionBiasMethod BiasMethod { get; set; } = PositionBiasMethod.OffsetTable;

    /// <summary>The (heads, n, n) self-attention bias over a (t, h, w) token grid.</summary>
    public Tensor PositionBias(long t, long h, long w, Device device) => BiasMethod switch
    {
        PositionBiasMethod.OffsetTable => _offsetTable.Compute(continuous_pos_bias, t, h, w, device),
        _ => continuous_pos_bias.forward(device, t, h, w),
    };

    /// <summary>
    /// Logits b × n × num_tokens (or, with <paramref name="returnEmbeds"/>, the normalised embeddings b × n × dim).
    /// </summary>
    /// <param name="ids">b n, or b t h w (then the grid comes from the shape); mask id = num_tokens.</param>
    /// <param name="patchShape">(t, h, w) token grid when ids are flat.</param>
    /// <param name="context">b j dim_context prompt embeddings (zeros at padding), or null when unconditional.</param>
    /// <param name="textMask">b j; derived as any(context ≠ 0) when null (the reference's all-ones default is wrong for text).</param>
    /// <param name="condDropProb">Probability, per sample, of hiding the whole text (classifier-free guidance).</param>
    /// <param name="videoMask">b n self-attention key mask, or null.</param>
    /// <param name="positionBias">The grid's (heads, n, n) bias from <see cref="PositionBias"/>, when the caller reuses it across calls with unchanged weights (sampling).</param>
    public Tensor forward(
        Tensor ids,
        (long T, long H, long W)? patchShape = null,
        Tensor? context = null,
        Tensor? textMask = null,
        double condDropProb = 0,
        Tensor? videoMask = null,
        bool returnEmbeds = false,
        Generator? generator = null,
        Tensor? positionBias = null)
    {
        using var scope = NewDisposeScope();
        (ids, var t, var h, var w) = TokenSequence.Flatten(ids, patchShape, Config.MaxSeqLen);
        long b = ids.shape[0], n = ids.shape[1];
        var bias = positionBias ?? PositionBias(t, h, w, ids.device); // heads n n
        textMask = TokenSequence.TextMask(context, textMask, condDropProb, b, generator, ids.device);

        var x = token_emb.forward(ids);                                  // b n d
        x = pos_emb.forward(arange(n, dtype: int64, device: ids.device)) + x;
        // Gradient shrink, copied literally (x·α + x.detach()·(1 − α)) for bit parity.
        var alpha = Config.GradientShrinkAlpha;
        x = (x * alpha) + (x.detach() * (1 - alpha));

        x = transformer.forward(
            x,
            videoShape: (b, t, h, w),
            attnBias: bias,
            context: context,
            selfAttnMask: videoMask,
            crossAttnContextMask: textMask);

        return (returnEmbeds ? x : to_logits.forward(x)).MoveToOuterDisposeScope();
    }

    /// <summary>Classifier-free guidance: null + (cond − null)·scale (one pass when scale is 1).</summary>
    public Tensor ForwardWithCondScale(Tensor ids, (long T, long H, long W) patchShape, Tensor? context, Tensor? textMask, double condScale, Tensor? positionBias = null)
    {
        using var scope = NewDisposeScope();
        // Both passes see the same grid and weights: one bias serves both.
        positionBias ??= PositionBias(patchShape.T, patchShape.H, patchShape.W, ids.device);
        var logits = forward(ids, patchShape, context, textMask, condDropProb: 0, positionBias: positionBias);
        if (condScale == 1 || context is null)
        {
            return logits.MoveToOuterDisposeScope();
        }

        var nullLogits = forward(ids, patchShape, context, textMask, condDropProb: 1, positionBias: positionBias);
        return (nullLogits + ((logits - nullLogits) * condScale)).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _offsetTable.Dispose();
        }

        base.Dispose(disposing);
    }
}
