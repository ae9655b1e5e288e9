namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Diffusion settings of the released <c>Superres</c> (superres.yaml + the class defaults it relies on).
/// </summary>
public sealed record SuperResDiffusionOptions
{
    /// <summary>Side of the low-resolution input slices (CT-ViT output: 128).</summary>
    public int LowResSize { get; init; } = 128;

    /// <summary>Side of the generated slices (512).</summary>
    public int HighResSize { get; init; } = 512;

    /// <summary>Sampling steps of the continuous-time sampler (timesteps: [25, 25]).</summary>
    public int Timesteps { get; init; } = 25;

    /// <summary>Low-res conditioning augmentation level at sampling time (Imagen §2.5; released 0.1).</summary>
    public double LowresSampleNoiseLevel { get; init; } = 0.1;

    /// <summary>Dynamic thresholding (Imagen §2.3) on the x₀ estimate, percentile 0.95.</summary>
    public bool DynamicThresholding { get; init; } = true;

    public double DynamicThresholdingPercentile { get; init; } = 0.95;

    /// <summary>Probability of dropping the text during training (classifier-free guidance), released default 0.1.</summary>
    public double CondDropProb { get; init; } = 0.1;

    /// <summary>Guidance scale at sampling; released inference uses 1 (a single conditional pass).</summary>
    public double CondScale { get; init; } = 1.0;

    /// <summary>P2 loss weight (Choi et al. 2022) (k + SNR)^−γ; the released Superres keeps the default γ = 0.5, k = 1.</summary>
    public double P2LossWeightGamma { get; init; } = 0.5;

    public double P2LossWeightK { get; init; } = 1.0;

    /// <summary>
    /// Upper end of the low-res augmentation times drawn in training, U(0, max) under the linear schedule.
    /// Released: 1 (the whole range, so most training examples see a conditioning image that is nearly all
    /// noise). Short runs learn the low-noise regime that sampling uses (level 0.1) much sooner with a
    /// smaller range; sampling is unaffected.
    /// </summary>
    public double TrainingLowresNoiseMax { get; init; } = 1.0;

    /// <summary>Random crop side for training (released: none, whole 512 slices).</summary>
    public int? RandomCropSize { get; init; }

    /// <summary>128 → 512 as released.</summary>
    public static SuperResDiffusionOptions Paper { get; } = new();

    /// <summary>16 → 32, the sizes the tiny fixture was built with.</summary>
    public static SuperResDiffusionOptions Tiny { get; } = new() { LowResSize = 16, HighResSize = 32 };

    public static SuperResDiffusionOptions Named(string name) => name.ToLowerInvariant() switch
    {
        "paper" => Paper,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown SR config '{name}': use 'paper' or 'tiny'", nameof(name)),
    };
}
