using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Text;

namespace GenerateCT.Model.Pipeline;

/// <summary>One super-resolution stage of the cascade: the Unet and its diffusion (sizes, steps).</summary>
public sealed record SuperResStageConfig(SuperResUnetConfig Unet, SuperResDiffusionOptions Diffusion);

/// <summary>
/// Everything that fixes the shape of a text-to-CT chain: the four stage configs, the number of slices,
/// the SR cascade (paper: one stage 128 → 512, the released "3SCM" inference of GENERATECT.md) and the
/// physical extent that gives the output its spacing. Named configs: <c>paper</c> (released) and
/// <c>tiny</c> (CPU tests and the demo: 9 × 64 × 64).
/// </summary>
public sealed record GenerationConfig
{
    public required string Name { get; init; }

    public required CtVitConfig CtVit { get; init; }

    public required MaskGitConfig MaskGit { get; init; }

    /// <summary>Name of the text encoder config ("t5-v1_1-base" or "tiny") as recorded in bundles.</summary>
    public required string TextConfigName { get; init; }

    public required T5Config Text { get; init; }

    /// <summary>SR stages in order; each one's LowResSize is the previous stage's output size.</summary>
    public required IReadOnlyList<SuperResStageConfig> SuperRes { get; init; }

    /// <summary>Slices of a generated volume (1 + temporal patch · k; paper 201).</summary>
    public required int Frames { get; init; }

    /// <summary>Cranio-caudal length covered by the slices, mm (gives the z spacing).</summary>
    public double ScanLengthMm { get; init; } = 300;

    /// <summary>In-plane field of view, mm (gives the row/column spacing).</summary>
    public double FieldOfViewMm { get; init; } = 360;

    /// <summary>Slices per SR batch; null = as many as fit (GPU) or 8 (CPU).</summary>
    public int? SlicesPerBatch { get; init; }

    /// <summary>Side of the generated slices (the last SR stage's output, or CT-ViT's when there is none).</summary>
    public int OutputSize => SuperRes.Count > 0 ? SuperRes[^1].Diffusion.HighResSize : (int)CtVit.ImageSize;

    /// <summary>Voxel spacing (z, y, x) in mm of the final volume.</summary>
    public (double Z, double Y, double X) Spacing =>
        (ScanLengthMm / Frames, FieldOfViewMm / OutputSize, FieldOfViewMm / OutputSize);

    /// <summary>The released chain: CT-ViT and MaskGIT paper configs, T5 v1.1 base, one SR stage 128 → 512, 201 slices.</summary>
    public static GenerationConfig Paper { get; } = new()
    {
        Name = "paper",
        CtVit = CtVitConfig.Paper with { UseVggAndGan = false },
        MaskGit = MaskGitConfig.Paper,
        TextConfigName = T5Config.BaseName,
        Text = T5Config.Base,
        SuperRes = [new SuperResStageConfig(SuperResUnetConfig.Paper, SuperResDiffusionOptions.Paper)],
        Frames = 201,
    };

    /// <summary>
    /// The CPU-sized chain: the tiny CT-ViT (32² slices, 9 frames → 5×4×4 tokens), MaskGIT tiny with a
    /// context width of the tiny T5 (d_model 32, vocabulary 400 = tests/fixtures/reference/spm_tiny.model) and one
    /// tiny SR stage 32 → 64 with the released sampler shortened to 10 steps (CPU time: the SR stage
    /// dominates a CPU run; the paper config keeps the released 25).
    /// </summary>
    public static GenerationConfig Tiny { get; } = new()
    {
        Name = "tiny",
        CtVit = CtVitConfig.Tiny with { Frames = 9 },
        MaskGit = MaskGitConfig.Tiny with { DimContext = 32, MaxSeqLen = 128 },
        TextConfigName = "tiny",
        Text = T5Config.Tiny with { VocabSize = 400 },
        SuperRes =
        [
            new SuperResStageConfig(
                SuperResUnetConfig.Tiny with { TextEmbedDim = 32, MaxTextLen = 32 },
                SuperResDiffusionOptions.Tiny with { LowResSize = 32, HighResSize = 64, Timesteps = 10 }),
        ],
        Frames = 9,
    };

    public static IReadOnlyList<string> Names { get; } = ["paper", "tiny"];

    public static GenerationConfig Named(string name) => name.ToLowerInvariant() switch
    {
        "paper" => Paper,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown generation config '{name}'; use one of: {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>Token grid (t, h, w) MaskGIT fills for <see cref="Frames"/> slices.</summary>
    public (long T, long H, long W) TokenGrid => CtVit.TokenGrid(Frames);
}
