using GenerateCT.Model.Attention;
using Transformer = GenerateCT.Model.Attention.Transformer;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>
/// The token critic of GenerateCT's stage 2 (MaskGITTransformer.py <c>TokenCritic</c>; Lezama et al. 2022,
/// "Improved masked image generation with Token-Critic"): a second bidirectional transformer that reads a
/// full id sequence, in which the generator's samples have replaced some tokens, and gives one logit per
/// token: high = "this token was sampled by the generator, not taken from a real volume". The paper trains
/// one with a binary cross-entropy next to the generator's cross-entropy; the released model has none
/// (critic=None), so it is only built when <see cref="MaskGitConfig.TokenCritic"/> is set.
/// As in the reference: token and position embeddings (mask id = num_tokens), a transformer with a
/// non-causal PEG and cross-attention to the prompt, but no 3-D position bias and no gradient shrink;
/// <c>to_logits</c> is a one-entry Sequential (Linear(dim, 1) then a squeeze), so the keys are
/// <c>to_logits.0.*</c> and a reference state dict loads by name.
/// </summary>
public sealed class TokenCritic : nn.Module
{
    private readonly Embedding token_emb;
    private readonly Embedding pos_emb;
    private readonly Transformer transformer;
    private readonly Sequential to_logits;

    /// <summary>A critic of the same width, depth and context as the MaskGit of <paramref name="config"/>.</summary>
    public TokenCritic(MaskGitConfig config) : base(nameof(TokenCritic))
    {
        Config = config;
        token_emb = nn.Embedding(config.NumTokens + 1, config.Dim); // the last row is the mask token
        pos_emb = nn.Embedding(config.MaxSeqLen, config.Dim);
        transformer = new Transformer(TokenSequence.TransformerOptions(config));
        to_logits = nn.Sequential(nn.Linear(config.Dim, 1));
        register_module(nameof(token_emb), token_emb);
        register_module(nameof(pos_emb), pos_emb);
        register_module(nameof(transformer), transformer);
        register_module(nameof(to_logits), to_logits);
    }

    public MaskGitConfig Config { get; }

    /// <summary>Per-token "generated" logits, b × n.</summary>
    /// <param name="ids">b n with <paramref name="patchShape"/>, or b t h w.</param>
    /// <param name="context">b j dim_context prompt embeddings (zeros at padding), or null.</param>
    /// <param name="textMask">b j; any(context ≠ 0) when null.</param>
    /// <param name="condDropProb">Probability, per sample, of hiding the text (classifier-free guidance).</param>
    public Tensor forward(
        Tensor ids,
        (long T, long H, long W)? patchShape = null,
        Tensor? context = null,
        Tensor? textMask = null,
        double condDropProb = 0,
        Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        (ids, var t, var h, var w) = TokenSequence.Flatten(ids, patchShape, Config.MaxSeqLen);
        long b = ids.shape[0], n = ids.shape[1];
        textMask = TokenSequence.TextMask(context, textMask, condDropProb, b, generator, ids.device);

        var x = token_emb.forward(ids);                                   // b n d
        x = pos_emb.forward(arange(n, dtype: int64, device: ids.device)) + x;
        x = transformer.forward(
            x,
            videoShape: (b, t, h, w),
            context: context,
            crossAttnContextMask: textMask);
        return to_logits.forward(x).squeeze(-1).MoveToOuterDisposeScope(); // b n
    }

    /// <summary>Guided critic logits, null + (cond − null)·scale, as the reference's forward_with_cond_scale.</summary>
    public Tensor ForwardWithCondScale(Tensor ids, (long T, long H, long W) patchShape, Tensor? context, Tensor? textMask, double condScale)
    {
        using var scope = NewDisposeScope();
        var logits = forward(ids, patchShape, context, textMask, condDropProb: 0);
        if (condScale == 1 || context is null)
        {
            return logits.MoveToOuterDisposeScope();
        }

        var nullLogits = forward(ids, patchShape, context, textMask, condDropProb: 1);
        return (nullLogits + ((logits - nullLogits) * condScale)).MoveToOuterDisposeScope();
    }
}
