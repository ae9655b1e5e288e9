using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Softmax cross-attention from feature-map pixels to the conditioning tokens (time tokens + resampled
/// text tokens). One learned null key/value pair (<c>null_kv</c>, shape [2, dim_head], shared by all
/// heads) is prepended so that a query always has something to attend to (classifier-free guidance).
/// No context norm; <c>to_out</c> = Linear (no bias) → gain-only LayerNorm.
/// </summary>
internal sealed class CrossAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly long _heads;
    private readonly double _scale;

#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Parameter null_kv;
    private readonly GainLayerNorm norm;
    private readonly Linear to_q;
    private readonly Linear to_kv;
    private readonly Sequential to_out;
#pragma warning restore IDE1006

    public CrossAttention(long dim, long contextDim, long dimHead, long heads) : base(nameof(CrossAttention))
    {
        _heads = heads;
        _scale = Math.Pow(dimHead, -0.5);
        var inner = dimHead * heads;
        null_kv = new Parameter(randn(2, dimHead));
        norm = new GainLayerNorm(dim);
        to_q = nn.Linear(dim, inner, hasBias: false);
        to_kv = nn.Linear(contextDim, inner * 2, hasBias: false);
        to_out = nn.Sequential(nn.Linear(inner, dim, hasBias: false), new GainLayerNorm(dim));
        RegisterComponents();
    }

    /// <param name="x">b n dim (pixels as a sequence)</param>
    /// <param name="context">b m cond_dim</param>
    public override Tensor forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var normed = norm.forward(x);
        var q = SplitHeads(to_q.forward(normed));                 // b h n d
        var kv = to_kv.forward(context).chunk(2, -1);
        var k = SplitHeads(kv[0]);                                // b h m d
        var v = SplitHeads(kv[1]);
        var dimHead = null_kv.shape[1];
        var nk = null_kv[0].view(1, 1, 1, dimHead).expand(b, _heads, 1, dimHead);
        var nv = null_kv[1].view(1, 1, 1, dimHead).expand(b, _heads, 1, dimHead);
        k = cat(new[] { nk, k }, 2);                              // b h (1+m) d
        v = cat(new[] { nv, v }, 2);
        q = q * _scale;
        var sim = q.matmul(k.transpose(-1, -2));                  // b h n (1+m)
        var attn = sim.softmax(-1);
        var o = attn.matmul(v);                                   // b h n d
        o = o.permute(0, 2, 1, 3).reshape(b, o.shape[2], -1);     // b n (h d)
        return to_out.forward(o).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t) => t.view(t.shape[0], t.shape[1], _heads, -1).permute(0, 2, 1, 3);
}
