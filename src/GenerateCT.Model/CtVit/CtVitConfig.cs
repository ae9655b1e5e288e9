namespace GenerateCT.Model.CtVit;

/// <summary>
/// Constructor arguments of CT-ViT, named as in the reference <c>CTViT(...)</c>. Chosen by name
/// everywhere (CLI, tests, checkpoints): <see cref="Paper"/> is exactly the released constructor
/// (train_ctvit.py / inference_ctvit.py), <see cref="Tiny"/> exactly ctvit_tiny_config.json.
/// </summary>
public sealed record CtVitConfig
{
    public required string Name { get; init; }

    public required long Dim { get; init; }

    public required long CodebookSize { get; init; }

    /// <summary>In-plane size (square), e.g. 128.</summary>
    public required long ImageSize { get; init; }

    public required long PatchSize { get; init; }

    public required long TemporalPatchSize { get; init; }

    public required int SpatialDepth { get; init; }

    public required int TemporalDepth { get; init; }

    public long DiscrBaseDim { get; init; } = 16;

    public long DimHead { get; init; } = 64;

    public long Heads { get; init; } = 8;

    public long Channels { get; init; } = 1;

    /// <summary>Builds <c>vgg</c> (VGG16 without its last two classifier layers) and <c>discr</c>.</summary>
    public bool UseVggAndGan { get; init; } = true;

    public long[] DiscrAttnResLayers { get; init; } = [16];

    public double AttnDropout { get; init; }

    public double FfDropout { get; init; }

    /// <summary>
    /// The model the paper describes rather than the released code: causal mask (with ALiBi) in the
    /// temporal self-attention and the temporal PEG applied in the true (t, h, w) layout. Same state-dict
    /// keys; the released weights were trained without it.
    /// </summary>
    public bool CausalTemporal { get; init; }

    /// <summary>Number of slices fed in training and by default (paper: 201 = 1 + 2·100).</summary>
    public int Frames { get; init; } = 201;

    /// <summary>Tokens per slice group along one in-plane axis (image / patch).</summary>
    public long GridSize => ImageSize / PatchSize;

    /// <summary>Released CT-ViT: dim 512, codebook 8192, 128² input, 16² patches, temporal patch 2, depths 4/4, 8 heads of 32.</summary>
    public static CtVitConfig Paper { get; } = new()
    {
        Name = "paper",
        Dim = 512,
        CodebookSize = 8192,
        ImageSize = 128,
        PatchSize = 16,
        TemporalPatchSize = 2,
        SpatialDepth = 4,
        TemporalDepth = 4,
        DimHead = 32,
        Heads = 8,
        Frames = 201,
    };

    /// <summary>The tiny fixture model (ctvit_tiny_config.json): 104,386 parameters, CPU-test sized.</summary>
    public static CtVitConfig Tiny { get; } = new()
    {
        Name = "tiny",
        Dim = 32,
        CodebookSize = 64,
        ImageSize = 32,
        PatchSize = 8,
        TemporalPatchSize = 2,
        SpatialDepth = 2,
        TemporalDepth = 2,
        DimHead = 8,
        Heads = 2,
        UseVggAndGan = false,
        Frames = 5,
    };

    public static IReadOnlyList<string> Names { get; } = ["paper", "tiny"];

    /// <summary>The named config; throws with the list of valid names otherwise.</summary>
    public static CtVitConfig FromName(string name) => name.ToLowerInvariant() switch
    {
        "paper" => Paper,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown CT-ViT config '{name}'; use one of: {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>Token grid (t, h, w) for a volume of <paramref name="frames"/> slices (1 + k·temporal patch).</summary>
    public (long T, long H, long W) TokenGrid(long frames)
    {
        EnsureValidFrameCount(frames);
        return (1 + ((frames - 1) / TemporalPatchSize), GridSize, GridSize);
    }

    public void EnsureValidFrameCount(long frames)
    {
        if (frames < 1 || (frames - 1) % TemporalPatchSize != 0)
        {
            throw new ArgumentException(
                $"CT-ViT needs 1 + {TemporalPatchSize}·k slices (e.g. {1 + TemporalPatchSize}, {1 + (2 * TemporalPatchSize)}, 201); got {frames}",
                nameof(frames));
        }
    }
}
