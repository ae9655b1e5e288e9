using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Learned sinusoidal embedding of a scalar (here the log-SNR), after crowsonkb's v-diffusion:
/// [x, sin(2π x w), cos(2π x w)] with learned frequencies w (dim/2 of them): dim + 1 features.
/// </summary>
internal sealed class LearnedSinusoidalPosEmb : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Parameter weights;
#pragma warning restore IDE1006

    public LearnedSinusoidalPosEmb(long dim) : base(nameof(LearnedSinusoidalPosEmb))
    {
        if (dim % 2 != 0)
        {
            throw new ArgumentException("the learned sinusoidal embedding needs an even dimension", nameof(dim));
        }

        weights = new Parameter(randn(dim / 2));
        RegisterComponents();
    }

    /// <param name="x">b</param>
    /// <returns>b (dim+1)</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var col = x.unsqueeze(1);                                              // b 1
        var freqs = col * weights.unsqueeze(0) * 2 * Math.PI;                  // b d/2
        return cat(new[] { col, freqs.sin(), freqs.cos() }, -1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Multi-scale stem (CrossFormer, Wang et al. 2021): parallel convolutions with kernels 3/7/15 whose
/// outputs (dim/2, dim/4, rest channels) are concatenated; stride 1 here.
/// </summary>
internal sealed class CrossEmbedLayer : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly ModuleList<Conv2d> convs;
#pragma warning restore IDE1006

    public CrossEmbedLayer(long dimIn, IReadOnlyList<int> kernelSizes, long dimOut, int stride = 1) : base(nameof(CrossEmbedLayer))
    {
        var kernels = kernelSizes.OrderBy(k => k).ToArray();
        if (kernels.Any(k => k % 2 != stride % 2))
        {
            throw new ArgumentException("cross-embed kernel sizes must have the parity of the stride", nameof(kernelSizes));
        }

        var scales = Enumerable.Range(1, kernels.Length - 1).Select(i => (long)(dimOut / Math.Pow(2, i))).ToList();
        scales.Add(dimOut - scales.Sum());
        convs = new ModuleList<Conv2d>();
        for (var i = 0; i < kernels.Length; i++)
        {
            convs.Add(nn.Conv2d(dimIn, scales[i], kernels[i], stride: stride, padding: (kernels[i] - stride) / 2));
        }

        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return cat(convs.Select(c => c.forward(x)).ToArray(), 1).MoveToOuterDisposeScope();
    }
}

/// <summary>SP-conv downsample: pixel-unshuffle 2×2 ('b c (h 2) (w 2) -> b (c 2 2) h w') then a 1×1 conv.</summary>
internal sealed class PixelUnshuffleDownsample : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv;

    public PixelUnshuffleDownsample(long dim, long dimOut) : base("Downsample")
    {
        _conv = nn.Conv2d(dim * 4, dimOut, 1);
        // Sequential index 0 is the parameter-free Rearrange, index 1 the conv: keys "<prefix>.1.weight".
        register_module("1", _conv);
    }

    // Registration is by hand (index names); reflection over the C# fields would add a second copy.
    protected override void RegisterComponents()
    {
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _conv.forward(nn.functional.pixel_unshuffle(x, 2)).MoveToOuterDisposeScope();
    }
}

/// <summary>1×1 conv → SiLU → PixelShuffle(2) (Aitken et al. 2017, checkerboard-free upsampling).</summary>
internal sealed class PixelShuffleUpsample : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Sequential net;
#pragma warning restore IDE1006

    public PixelShuffleUpsample(long dim, long dimOut) : base(nameof(PixelShuffleUpsample))
    {
        var conv = nn.Conv2d(dim, dimOut * 4, 1);
        // ICNR-style init as released: one kaiming-uniform kernel repeated for each of the 4 sub-pixels, zero bias.
        using (no_grad())
        {
            var w = empty(dimOut, dim, 1, 1);
            nn.init.kaiming_uniform_(w);
            conv.weight!.copy_(w.repeat_interleave(4, 0));
            conv.bias!.zero_();
            w.Dispose();
        }

        net = nn.Sequential(conv, nn.SiLU(), nn.PixelShuffle(2));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => net.forward(x);
}
