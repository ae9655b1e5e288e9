using GenerateCT.Model.Attention;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>
/// What <see cref="MaskGit"/> and <see cref="TokenCritic"/> share before their transformers: the same
/// transformer options, the id-grid checks, and the text mask with per-sample dropping (classifier-free
/// guidance).
/// </summary>
internal static class TokenSequence
{
    /// <summary>The transformer both build from a config: non-causal PEG, cross-attention unless unconditional.</summary>
    public static TransformerOptions TransformerOptions(MaskGitConfig config) => new()
    {
        Dim = config.Dim,
        Depth = config.Depth,
        DimContext = config.DimContext,
        DimHead = config.DimHead,
        Heads = config.Heads,
        FfMult = config.FfMult,
        Peg = true,
        PegCausal = false,
        AttnNumNullKv = config.AttnNumNullKv,
        // The reference asserts has_cross_attn == not maskgit.unconditional.
        HasCrossAttn = !config.Unconditional,
    };

    /// <summary>ids as b × n with their (t, h, w) grid; b t h w ids give the grid themselves.</summary>
    public static (Tensor Ids, long T, long H, long W) Flatten(Tensor ids, (long T, long H, long W)? patchShape, long maxSeqLen)
    {
        if (ids.dim() == 4)
        {
            patchShape = (ids.shape[1], ids.shape[2], ids.shape[3]);
            ids = ids.reshape(ids.shape[0], -1); // b (t h w)
        }
        else if (ids.dim() != 2)
        {
            throw new ArgumentException("video token ids must be (b, n) or (b, t, h, w)", nameof(ids));
        }

        var (t, h, w) = patchShape ?? throw new ArgumentException("the (t, h, w) token grid is needed for flat ids", nameof(patchShape));
        var n = ids.shape[1];
        if (n != t * h * w)
        {
            throw new ArgumentException($"{n} tokens do not fill a {t}×{h}×{w} grid", nameof(ids));
        }

        if (n > maxSeqLen)
        {
            throw new ArgumentException($"{n} video tokens exceed max_seq_len {maxSeqLen}", nameof(ids));
        }

        return (ids, t, h, w);
    }

    /// <summary>
    /// The cross-attention mask: any(context ≠ 0) unless given, with each sample's whole text hidden with
    /// probability <paramref name="condDropProb"/> (prob_mask_like((b,), 1 − p)). Null without context.
    /// </summary>
    public static Tensor? TextMask(Tensor? context, Tensor? textMask, double condDropProb, long batch, Generator? generator, Device device)
    {
        if (context is null)
        {
            return null;
        }

        textMask ??= context.ne(0).any(-1);
        if (condDropProb <= 0)
        {
            return textMask;
        }

        var keep = condDropProb >= 1
            ? zeros(batch, dtype: @bool, device: device)
            : rand([batch], generator: generator, device: device).lt(1 - condDropProb);
        return textMask.logical_and(keep.unsqueeze(1));
    }
}
