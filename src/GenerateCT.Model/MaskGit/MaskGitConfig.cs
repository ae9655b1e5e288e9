namespace GenerateCT.Model.MaskGit;

/// <summary>
/// MaskGIT hyperparameters. `paper` is the released model: MaskGit(num_tokens=8192, max_seq_len=10000,
/// dim=512, dim_context=768, depth=6), heads 8, dim_head 64, ff_mult 4, 2 null k/v, cross-attention on;
/// MaskGITTransformer(steps=18, cond_drop_prob=0.25) sampled with cond_scale 5. `tiny` is the parity
/// fixture tests/fixtures/reference/maskgit_tiny.pt.
/// </summary>
public sealed record MaskGitConfig
{
    public required string Name { get; init; }

    /// <summary>CT-ViT codebook size; id <see cref="NumTokens"/> is the mask token.</summary>
    public required int NumTokens { get; init; }

    public required int MaxSeqLen { get; init; }

    public required int Dim { get; init; }

    /// <summary>Width of the text embeddings (T5 d_model).</summary>
    public required int DimContext { get; init; }

    public required int Depth { get; init; }

    public int Heads { get; init; } = 8;

    public int DimHead { get; init; } = 64;

    public double FfMult { get; init; } = 4;

    public int AttnNumNullKv { get; init; } = 2;

    /// <summary>Scale of the gradient into the embeddings (CogView / GLM-130B shrink).</summary>
    public double GradientShrinkAlpha { get; init; } = 0.1;

    public bool Unconditional { get; init; }

    /// <summary>Demasking steps of the sampler (MaskGITTransformer default 18).</summary>
    public int Steps { get; init; } = 18;

    /// <summary>Probability of dropping the text during training, for classifier-free guidance.</summary>
    public double CondDropProb { get; init; } = 0.25;

    /// <summary>Guidance scale used by inference_transformer.py.</summary>
    public double CondScale { get; init; } = 5;

    public double StartingTemperature { get; init; } = 0.9;

    /// <summary>
    /// Train and sample with a <see cref="MaskGit.TokenCritic"/> (paper §3.2: token-critic binary
    /// cross-entropy). Off in <see cref="Paper"/> and <see cref="Tiny"/>: the released
    /// MaskGITTransformer has critic=None, so its checkpoint has no <c>critic.*</c> keys.
    /// </summary>
    public bool TokenCritic { get; init; }

    public int MaskId => NumTokens;

    public static MaskGitConfig Paper { get; } = new()
    {
        Name = "paper",
        NumTokens = 8192,
        MaxSeqLen = 10000,
        Dim = 512,
        DimContext = 768,
        Depth = 6,
    };

    public static MaskGitConfig Tiny { get; } = new()
    {
        Name = "tiny",
        NumTokens = 64,
        MaxSeqLen = 64,
        Dim = 32,
        DimContext = 16,
        Depth = 2,
        Heads = 2,
        DimHead = 8,
    };

    public static MaskGitConfig Named(string name) => name switch
    {
        "paper" => Paper,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown MaskGit config '{name}'; use 'paper' or 'tiny'", nameof(name)),
    };
}
