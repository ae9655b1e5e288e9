using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Continuous-time Gaussian diffusion schedules expressed as log-SNR(t), t ∈ [0, 1]
/// (Kingma et al. 2021, "Variational Diffusion Models"; imagen-pytorch's GaussianDiffusionContinuousTimes).
/// α² = sigmoid(log-SNR), σ² = sigmoid(−log-SNR).
/// </summary>
public sealed class NoiseSchedule
{
    private readonly Func<Tensor, Tensor> _logSnr;

    private NoiseSchedule(string name, Func<Tensor, Tensor> logSnr)
    {
        Name = name;
        _logSnr = logSnr;
    }

    public string Name { get; }

    /// <summary>Cosine schedule (Nichol &amp; Dhariwal 2021, eq. 17), s = 0.008: −log(max(cos((t+s)/(1+s)·π/2)^−2 − 1, 1e-5)).</summary>
    public static NoiseSchedule Cosine { get; } = new("cosine", t =>
    {
        using var scope = NewDisposeScope();
        const double s = 0.008;
        var c = ((t + s) / (1 + s) * Math.PI * 0.5).cos().pow(-2) - 1;
        return (-c.clamp_min(1e-5).log()).MoveToOuterDisposeScope();
    });

    /// <summary>Linear-β schedule in continuous time (Ho et al. 2020 as in VDM): −log(expm1(1e-4 + 10 t²)).</summary>
    public static NoiseSchedule Linear { get; } = new("linear", t =>
    {
        using var scope = NewDisposeScope();
        return (-(t.pow(2) * 10 + 1e-4).expm1().log()).MoveToOuterDisposeScope();
    });

    public Tensor LogSnr(Tensor t) => _logSnr(t);

    /// <summary>(α, σ) = (√sigmoid(λ), √sigmoid(−λ)).</summary>
    public static (Tensor Alpha, Tensor Sigma) AlphaSigma(Tensor logSnr) => (logSnr.sigmoid().sqrt(), (-logSnr).sigmoid().sqrt());

    /// <summary>
    /// Posterior q(x_s | x_t, x₀) for s &lt; t in log-SNR form (VDM, Kingma et al. 2021, eq. 33):
    /// c = −expm1(λ_t − λ_s), mean = α_s (x_t (1 − c) / α_t + c x₀), variance = σ_s² c.
    /// </summary>
    /// <param name="logSnr">λ_t, broadcastable to x_t</param>
    /// <param name="logSnrNext">λ_s, broadcastable to x_t</param>
    public static (Tensor Mean, Tensor Variance) Posterior(Tensor xStart, Tensor xT, Tensor logSnr, Tensor logSnrNext)
    {
        using var scope = NewDisposeScope();
        var (alpha, _) = AlphaSigma(logSnr);
        var (alphaNext, sigmaNext) = AlphaSigma(logSnrNext);
        var c = -(logSnr - logSnrNext).expm1();
        var mean = alphaNext * (xT * (1 - c) / alpha + c * xStart);
        var variance = sigmaNext.pow(2) * c;
        return (mean.MoveToOuterDisposeScope(), variance.MoveToOuterDisposeScope());
    }
}
