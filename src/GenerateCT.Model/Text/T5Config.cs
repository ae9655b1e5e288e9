using System.Text.Json;

namespace GenerateCT.Model.Text;

/// <summary>
/// Hyperparameters of a T5 v1.1 encoder (HF `T5Config`, gated-gelu feed-forward). Named configs:
/// `t5-v1_1-base` (the frozen GenerateCT text encoder, d_model 768) and `tiny` (the parity fixture).
/// </summary>
public sealed record T5Config(
    int VocabSize,
    int DModel,
    int DKv,
    int DFf,
    int NumLayers,
    int NumHeads,
    int RelativeAttentionNumBuckets = 32,
    int RelativeAttentionMaxDistance = 128,
    double LayerNormEpsilon = 1e-6)
{
    public const string BaseName = "t5-v1_1-base";

    /// <summary>google/t5-v1_1-base (values verified in docs/porting-guide.md).</summary>
    public static T5Config Base { get; } = new(32128, 768, 64, 2048, 12, 12);

    /// <summary>The configuration of tests/fixtures/reference/t5_encoder_tiny.pt.</summary>
    public static T5Config Tiny { get; } = new(128, 32, 8, 64, 2, 4);

    public int InnerDim => NumHeads * DKv;

    public static T5Config Named(string name) => name switch
    {
        BaseName or "google/t5-v1_1-base" => Base,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown T5 config '{name}'; use '{BaseName}' or 'tiny'", nameof(name)),
    };

    /// <summary>
    /// Reads a Hugging Face `config.json`. Only the v1.1 encoder variant is supported: gated-gelu
    /// feed-forward (`feed_forward_proj`), which is what google/t5-v1_1-* declare.
    /// </summary>
    public static T5Config FromHuggingFaceJson(string json, string source)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        int Int(string key, int? fallback = null)
        {
            if (root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number)
            {
                return v.GetInt32();
            }

            return fallback ?? throw new InvalidDataException($"{source}: required field '{key}' is missing");
        }

        var ffProj = root.TryGetProperty("feed_forward_proj", out var ff) ? ff.GetString() : "relu";
        if (ffProj != "gated-gelu")
        {
            throw new InvalidDataException($"{source}: feed_forward_proj is '{ffProj}', but the GenerateCT text encoder is T5 v1.1 (gated-gelu); install the google/t5-v1_1-base bundle");
        }

        var eps = root.TryGetProperty("layer_norm_epsilon", out var e) ? e.GetDouble() : 1e-6;
        var heads = Int("num_heads");
        var dModel = Int("d_model");
        return new T5Config(
            Int("vocab_size"),
            dModel,
            Int("d_kv", dModel / heads),
            Int("d_ff"),
            Int("num_layers"),
            heads,
            Int("relative_attention_num_buckets", 32),
            Int("relative_attention_max_distance", 128),
            eps);
    }
}
