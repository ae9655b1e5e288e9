using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>GroupNorm → optional FiLM scale/shift from the time embedding → SiLU → 3×3 conv.</summary>
internal sealed class ResnetConvBlock : nn.Module<Tensor, Tensor?, Tensor?, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly GroupNorm groupnorm;
    private readonly Conv2d project;
#pragma warning restore IDE1006

    public ResnetConvBlock(long dim, long dimOut, long groups) : base("Block")
    {
        groupnorm = nn.GroupNorm(groups, dim);
        project = nn.Conv2d(dim, dimOut, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? scale, Tensor? shift)
    {
        using var scope = NewDisposeScope();
        var h = groupnorm.forward(x);
        if (scale is not null && shift is not null)
        {
            h = h * (scale + 1) + shift;
        }

        return project.forward(nn.functional.silu(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Global context gate (Cao et al. 2019, GCNet): attention-pooled channel descriptor → 1×1 conv MLP →
/// sigmoid, multiplied onto the block output.
/// </summary>
internal sealed class GlobalContext : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Conv2d to_k;
    private readonly Sequential net;
#pragma warning restore IDE1006

    public GlobalContext(long dimIn, long dimOut) : base(nameof(GlobalContext))
    {
        to_k = nn.Conv2d(dimIn, 1, 1);
        var hidden = Math.Max(3, dimOut / 2);
        net = nn.Sequential(nn.Conv2d(dimIn, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, dimOut, 1), nn.Sigmoid());
        RegisterComponents();
    }

    /// <param name="x">b c h w</param>
    /// <returns>b c_out 1 1 gate</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var c = x.shape[1];
        var context = to_k.forward(x).view(b, 1, -1).softmax(-1);      // b 1 n
        var flat = x.reshape(b, c, -1);                                 // b c n
        var pooled = flat.matmul(context.transpose(1, 2));              // b c 1
        return net.forward(pooled.unsqueeze(-1)).MoveToOuterDisposeScope(); // b c 1 1
    }
}

/// <summary>
/// Imagen ResnetBlock: block1 → (optional cross-attention over the conditioning tokens, residual) →
/// block2 with the time FiLM → × GlobalContext gate → + (1×1 res_conv of) the input.
/// </summary>
internal sealed class ResnetBlock : nn.Module<Tensor, Tensor?, Tensor?, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Sequential? time_mlp;
    private readonly CrossAttention? cross_attn;
    private readonly ResnetConvBlock block1;
    private readonly ResnetConvBlock block2;
    private readonly GlobalContext? gca;
    private readonly Conv2d? res_conv;
#pragma warning restore IDE1006

    /// <param name="condDim">when set, cross-attention over conditioning tokens of this width</param>
    public ResnetBlock(long dim, long dimOut, long? timeCondDim, long groups, long? condDim = null,
        long attnDimHead = 64, long attnHeads = 8, bool useGca = false) : base(nameof(ResnetBlock))
    {
        if (timeCondDim is { } tcd)
        {
            time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(tcd, dimOut * 2));
        }

        if (condDim is { } cd)
        {
            cross_attn = new CrossAttention(dimOut, cd, attnDimHead, attnHeads);
        }

        block1 = new ResnetConvBlock(dim, dimOut, groups);
        block2 = new ResnetConvBlock(dimOut, dimOut, groups);
        if (useGca)
        {
            gca = new GlobalContext(dimOut, dimOut);
        }

        if (dim != dimOut)
        {
            res_conv = nn.Conv2d(dim, dimOut, 1);
        }

        RegisterComponents();
    }

    /// <param name="x">b dim h w</param>
    /// <param name="timeEmb">b time_cond_dim</param>
    /// <param name="cond">b m cond_dim (required when the block has cross-attention)</param>
    public override Tensor forward(Tensor x, Tensor? timeEmb, Tensor? cond)
    {
        using var scope = NewDisposeScope();
        Tensor? scale = null, shift = null;
        if (time_mlp is not null && timeEmb is not null)
        {
            var film = time_mlp.forward(timeEmb).unsqueeze(-1).unsqueeze(-1).chunk(2, 1); // 2 × b c 1 1
            scale = film[0];
            shift = film[1];
        }

        var h = block1.forward(x, null, null);
        if (cross_attn is not null)
        {
            if (cond is null)
            {
                throw new ArgumentNullException(nameof(cond), "this ResnetBlock has cross-attention and needs the conditioning tokens");
            }

            var (b, c, hh, ww) = (h.shape[0], h.shape[1], h.shape[2], h.shape[3]);
            var seq = h.permute(0, 2, 3, 1).reshape(b, hh * ww, c);              // b (h w) c
            seq = cross_attn.forward(seq, cond) + seq;
            h = seq.view(b, hh, ww, c).permute(0, 3, 1, 2);                      // b c h w
        }

        h = block2.forward(h, scale, shift);
        if (gca is not null)
        {
            h = h * gca.forward(h);
        }

        var residual = res_conv is null ? x : res_conv.forward(x);
        return (h + residual).MoveToOuterDisposeScope();
    }
}
