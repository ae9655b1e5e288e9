namespace GenerateCT.Model.SuperRes;

/// <summary>
/// Constructor arguments of the released SR Unet (imagen-derived <c>Unet</c> after
/// <c>Superres.cast_model_parameters</c>). Only the released structure is built: memory-efficient layout,
/// cross-attention at every level (the OmegaConf quirk, see docs/porting-guide.md), no self-attention
/// blocks, low-res conditioning, text through the Perceiver resampler, GlobalContext gates, scaled skips,
/// pixel-shuffle upsampling.
/// </summary>
public sealed record SuperResUnetConfig
{
    public int Dim { get; init; } = 64;
    public int TextEmbedDim { get; init; } = 768;
    public int NumResnetBlocks { get; init; } = 2;
    /// <summary>Width of the conditioning tokens; the reference defaults it to <see cref="Dim"/>.</summary>
    public int? CondDim { get; init; }
    public int NumTimeTokens { get; init; } = 2;
    public int LearnedSinuPosEmbDim { get; init; } = 16;
    public IReadOnlyList<int> DimMults { get; init; } = [1, 2, 4];
    public int Channels { get; init; } = 1;
    public int AttnDimHead { get; init; } = 64;
    public int AttnHeads { get; init; } = 8;
    public int MaxTextLen { get; init; } = 256;
    public int ResnetGroups { get; init; } = 8;
    public IReadOnlyList<int> InitCrossEmbedKernelSizes { get; init; } = [3, 7, 15];
    public int AttnPoolNumLatents { get; init; } = 32;
    public bool UseGlobalContextAttn { get; init; } = true;
    public bool ScaleSkipConnection { get; init; } = true;

    public int EffectiveCondDim => CondDim ?? Dim;

    /// <summary>time_cond_dim = dim · 4 · 2 (doubled because the Unet is low-res conditioned).</summary>
    public int TimeCondDim => Dim * 4 * 2;

    /// <summary>Total down-sampling of the memory-efficient Unet: every level pre-downsamples by 2.</summary>
    public int SizeDivisor => 1 << DimMults.Count;

    /// <summary>The released GenerateCT SR Unet (superres.yaml unet1): 22,190,440 parameters.</summary>
    public static SuperResUnetConfig Paper { get; } = new();

    /// <summary>The fixture model of tests/fixtures/reference/superres_unet_tiny_config.json (411,152 parameters).</summary>
    public static SuperResUnetConfig Tiny { get; } = new()
    {
        Dim = 8,
        TextEmbedDim = 24,
        ResnetGroups = 4,
        AttnHeads = 2,
        AttnDimHead = 8,
        MaxTextLen = 8,
        AttnPoolNumLatents = 4,
    };

    /// <summary>"paper" or "tiny".</summary>
    public static SuperResUnetConfig Named(string name) => name.ToLowerInvariant() switch
    {
        "paper" => Paper,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown SR config '{name}': use 'paper' or 'tiny'", nameof(name)),
    };
}
