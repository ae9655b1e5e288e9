using TorchSharp.Modules;
using TorchSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>
/// The reference attention.py <c>LayerNorm</c>: a learned gain <c>gamma</c> and a persistent buffer
/// <c>beta</c> that is always zero (it is in the state dict, so it must exist here too), computed with
/// the standard layer norm, eps 1e-5. Distinct from <c>nn.LayerNorm</c> (weight/bias parameters), which
/// the reference uses in the feed-forward and the patch embeddings.
/// </summary>
internal sealed class GammaLayerNorm : nn.Module<Tensor, Tensor>
{
    private const double Eps = 1e-5;

    [ComponentName(Name = "gamma")]
    private Parameter _gamma;

    [ComponentName(Name = "beta")]
    private Tensor _beta;

    public GammaLayerNorm(long dim) : base(nameof(GammaLayerNorm))
    {
        _gamma = new Parameter(ones(dim));
        _beta = zeros(dim);
        register_parameter("gamma", _gamma);
        register_buffer("beta", _beta);
    }

    public override Tensor forward(Tensor x) =>
        nn.functional.layer_norm(x, [x.shape[^1]], _gamma, _beta, Eps);

    protected override void RegisterComponents()
    {
        // Registered explicitly in the constructor, in the reference order.
    }
}
