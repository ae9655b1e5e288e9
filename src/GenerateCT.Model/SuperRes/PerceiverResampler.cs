using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Perceiver-resampler attention (Flamingo, Alayrac et al. 2022, §3.1.1): latents attend to the
/// concatenation of the sequence and the latents themselves. Norms are torch nn.LayerNorm here.
/// </summary>
internal sealed class PerceiverAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly long _heads;
    private readonly double _scale;

#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly LayerNorm norm;
    private readonly LayerNorm norm_latents;
    private readonly Linear to_q;
    private readonly Linear to_kv;
    private readonly Sequential to_out;
#pragma warning restore IDE1006

    public PerceiverAttention(long dim, long dimHead, long heads) : base(nameof(PerceiverAttention))
    {
        _heads = heads;
        _scale = Math.Pow(dimHead, -0.5);
        var inner = dimHead * heads;
        norm = nn.LayerNorm(dim);
        norm_latents = nn.LayerNorm(dim);
        to_q = nn.Linear(dim, inner, hasBias: false);
        to_kv = nn.Linear(dim, inner * 2, hasBias: false);
        to_out = nn.Sequential(nn.Linear(inner, dim, hasBias: false), nn.LayerNorm(dim));
        RegisterComponents();
    }

    /// <param name="x">b n dim</param>
    /// <param name="latents">b l dim</param>
    public override Tensor forward(Tensor x, Tensor latents)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var xn = norm.forward(x);
        var ln = norm_latents.forward(latents);
        var q = SplitHeads(to_q.forward(ln));                           // b h l d
        var kv = to_kv.forward(cat(new[] { xn, ln }, -2)).chunk(2, -1); // b (n+l) 2·inner
        var k = SplitHeads(kv[0]);
        var v = SplitHeads(kv[1]);
        q = q * _scale;
        var attn = q.matmul(k.transpose(-1, -2)).softmax(-1);          // b h l (n+l)
        var o = attn.matmul(v);
        o = o.permute(0, 2, 1, 3).reshape(b, o.shape[2], -1);          // b l (h d)
        return to_out.forward(o).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t) => t.view(t.shape[0], t.shape[1], _heads, -1).permute(0, 2, 1, 3);
}

/// <summary>
/// Pools the (padded) text tokens into a fixed set of latents: <c>num_latents</c> learned latents plus
/// 4 latents projected from the mean of the sequence, then depth × (PerceiverAttention, FeedForward),
/// both residual. The released Unet calls it without a mask: padded / dropped positions were already
/// replaced by <c>null_text_embed</c>.
/// </summary>
internal sealed class PerceiverResampler : nn.Module<Tensor, Tensor>
{
    private const int NumLatentsMeanPooled = 4;
    private readonly long _dim;

#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Parameter latents;
    private readonly Embedding pos_emb;
    private readonly Sequential to_latents_from_mean_pooled_seq;
    private readonly ModuleList<ModuleList<nn.Module>> layers;
#pragma warning restore IDE1006

    public PerceiverResampler(long dim, int depth, long dimHead, long heads, long numLatents, long maxSeqLen = 512, double ffMult = 4)
        : base(nameof(PerceiverResampler))
    {
        _dim = dim;
        // Registration order follows the reference's state_dict: pos_emb is created before latents but
        // latents is a direct Parameter, which torch lists before submodules.
        latents = new Parameter(randn(numLatents, dim));
        pos_emb = nn.Embedding(maxSeqLen, dim);
        to_latents_from_mean_pooled_seq = nn.Sequential(new GainLayerNorm(dim), nn.Linear(dim, dim * NumLatentsMeanPooled));
        layers = new ModuleList<ModuleList<nn.Module>>();
        for (var i = 0; i < depth; i++)
        {
            layers.Add(new ModuleList<nn.Module>(new PerceiverAttention(dim, dimHead, heads), SuperResFeedForward.Create(dim, ffMult)));
        }

        RegisterComponents();
    }

    /// <param name="x">b n dim</param>
    /// <returns>b (4 + num_latents) dim</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var n = x.shape[1];
        var xWithPos = x + pos_emb.forward(arange(n, device: x.device));
        var l = latents.unsqueeze(0).expand(b, -1, -1);
        // masked_mean with an all-true mask in the reference: sum / count
        var meanPooled = x.sum(1) / (double)n;                                   // b dim
        var meanLatents = to_latents_from_mean_pooled_seq.forward(meanPooled)
            .view(b, NumLatentsMeanPooled, _dim);                                // b 4 dim
        l = cat(new[] { meanLatents, l }, -2);
        foreach (var layer in layers)
        {
            var attn = (PerceiverAttention)layer[0];
            var ff = (Sequential)layer[1];
            l = attn.forward(xWithPos, l) + l;
            l = ff.forward(l) + l;
        }

        return l.MoveToOuterDisposeScope();
    }
}

/// <summary>Imagen FeedForward: gain-LN → Linear(no bias) → GELU (erf) → gain-LN → Linear(no bias).</summary>
internal static class SuperResFeedForward
{
    public static Sequential Create(long dim, double mult)
    {
        var hidden = (long)(dim * mult);
        return nn.Sequential(
            new GainLayerNorm(dim),
            nn.Linear(dim, hidden, hasBias: false),
            nn.GELU(),
            new GainLayerNorm(hidden),
            nn.Linear(hidden, dim, hasBias: false));
    }
}
