namespace GenerateCT.Model.CtVit;

/// <summary>
/// CT-ViT training settings. Defaults follow the paper (§3.2 / supplementary): Adam β = (0.9, 0.99),
/// lr 3e-5; the effective batch is <see cref="BatchSize"/> × <see cref="GradientAccumulation"/>
/// (the paper used 32 on 8 GPUs).
/// </summary>
public sealed record CtVitTrainingOptions
{
    public double LearningRate { get; init; } = 3e-5;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.99;

    public int BatchSize { get; init; } = 1;

    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Optimizer steps to run (in total, counting steps done before a resume).</summary>
    public long Steps { get; init; } = 1000;

    /// <summary>Steps of autoencoder-only training before the adversarial loss and the discriminator start.</summary>
    public long DiscriminatorWarmupSteps { get; init; } = 1000;

    /// <summary>Weight of the R1-style gradient penalty on real slices (the reference uses 10).</summary>
    public double GradientPenaltyWeight { get; init; } = 10;

    /// <summary>Upper bound of the adaptive adversarial weight (Esser et al. 2021, VQGAN eq. 7).</summary>
    public double MaxAdaptiveWeight { get; init; } = 1e4;

    /// <summary>Write a checkpoint every N steps (0: only at the end).</summary>
    public long CheckpointEvery { get; init; }

    /// <summary>Where checkpoints go (null: none).</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>torchvision VGG16 ImageNet weights (.pt/.pth/.safetensors) for the perceptual loss; without them the loss is skipped.</summary>
    public string? VggWeightsPath { get; init; }

    /// <summary>Report progress every N steps.</summary>
    public long ProgressEvery { get; init; } = 10;

    public int Seed { get; init; }
}

/// <summary>One progress report: losses of the last step, PSNR and codebook usage since the last report.</summary>
public sealed record CtVitTrainingProgress(
    long Step,
    long TotalSteps,
    double Loss,
    double ReconstructionLoss,
    double CommitLoss,
    double? PerceptualLoss,
    double? AdversarialLoss,
    double? DiscriminatorLoss,
    double Psnr,
    double CodebookUsage);

/// <summary>Reconstruction quality of a model on a dataset.</summary>
public sealed record CtVitEvaluation(double Psnr, double Mse, double CodebookUsage, int CodesUsed);
