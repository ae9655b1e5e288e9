using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// The imagen-style gain-only LayerNorm of the SR Unet (parameter <c>g</c>, no bias): biased variance,
/// eps 1e-5 in float32 (1e-3 otherwise), over the last dimension. Used in CrossAttention (<c>norm</c>,
/// <c>to_out.1</c>), the Perceiver feed-forward and <c>to_latents_from_mean_pooled_seq.0</c>; elsewhere the
/// reference uses torch's nn.LayerNorm (weight and bias).
/// </summary>
internal sealed class GainLayerNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly Parameter g;
#pragma warning restore IDE1006

    public GainLayerNorm(long features) : base(nameof(GainLayerNorm))
    {
        g = new Parameter(ones(features));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var eps = x.dtype == ScalarType.Float32 ? 1e-5 : 1e-3;
        var variance = x.var(-1, unbiased: false, keepdim: true);
        var mean = x.mean(new long[] { -1 }, keepdim: true);
        // (x − mean) · rsqrt(var + eps) · g, in the reference's order of operations
        return ((x - mean) * (variance + eps).rsqrt() * g).MoveToOuterDisposeScope();
    }
}
