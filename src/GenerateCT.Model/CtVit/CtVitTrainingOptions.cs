using GenerateCT.Model.Precision;
using GenerateCT.Model.Training;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// CT-ViT training settings. Defaults follow the paper (§3.2 / supplementary): Adam β = (0.9, 0.99),
/// lr 3e-5 (constant: no warm-up, no decay); the effective batch is <see cref="BatchSize"/> ×
/// <see cref="GradientAccumulationSteps"/> (the paper used 32 on 8 GPUs).
/// </summary>
public sealed record CtVitTrainingOptions : IStageTrainingOptions
{
    public double LearningRate { get; init; } = 3e-5;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.99;

    public int BatchSize { get; init; } = 1;

    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Linear learning-rate warm-up steps (paper: none).</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Step at which a half-cosine decay reaches 0 (paper: none, constant rate).</summary>
    public long? DecayEndStep { get; init; }

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

    /// <summary>Seeds the batch and slice draws (the low 32 bits).</summary>
    public long Seed { get; init; }

    /// <summary>
    /// Forward precision: auto (bf16 autocast on CUDA, fp32 on CPU), fp32, bf16 or fp16 (autocast with dynamic
    /// loss scaling). An explicit reduced precision the device cannot run is refused, not downgraded.
    /// </summary>
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Auto;

    /// <summary>fp16 only: the loss scale to start from (PyTorch GradScaler's default 2^16).</summary>
    public double InitialLossScale { get; init; } = 65536;

    /// <summary>fp16 only: clean steps in a row before the loss scale doubles (GradScaler's default 2000).</summary>
    public int LossScaleGrowthInterval { get; init; } = 2000;
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
    double CodebookUsage)
{
    /// <summary>The precision the step ran in: fp32, bf16 or fp16.</summary>
    public string Precision { get; init; } = "fp32";

    /// <summary>fp16: the loss scale after the step; null otherwise.</summary>
    public double? LossScale { get; init; }

    /// <summary>fp16: true when the step was skipped for inf/NaN gradients.</summary>
    public bool StepSkipped { get; init; }

    /// <summary>The Adam learning rate of the step.</summary>
    public double LearningRate { get; init; }

    /// <summary>
    /// The stage-independent form: loss, learning rate and the other numbers as named metrics
    /// (<c>codebook_usage</c> only when asked: a single step does not count it).
    /// </summary>
    public TrainingStep ToTrainingStep(bool withCodebookUsage = false)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["reconstruction_loss"] = ReconstructionLoss,
            ["commit_loss"] = CommitLoss,
            ["psnr"] = Psnr,
        };
        Put(metrics, "perceptual_loss", PerceptualLoss);
        Put(metrics, "adversarial_loss", AdversarialLoss);
        Put(metrics, "discriminator_loss", DiscriminatorLoss);
        Put(metrics, "loss_scale", LossScale);
        Put(metrics, "codebook_usage", withCodebookUsage ? CodebookUsage : null);
        return new TrainingStep(ModelStage.CtVit, Step, Loss, LearningRate, metrics);
    }

    private static void Put(Dictionary<string, double> metrics, string name, double? value)
    {
        if (value is { } v)
        {
            metrics[name] = v;
        }
    }
}

/// <summary>Reconstruction quality of a model on a dataset.</summary>
public sealed record CtVitEvaluation(double Psnr, double Mse, double CodebookUsage, int CodesUsed);
