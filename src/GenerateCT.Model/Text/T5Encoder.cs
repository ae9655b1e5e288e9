using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Text;

// Hugging Face T5EncoderModel (transformers modeling_t5.py, T5 v1.1 variant), ported module by module.
// Field names are the HF attribute names so that a HF state dict loads by name:
//   shared, encoder.embed_tokens, encoder.block.{i}.layer.0.SelfAttention.{q,k,v,o,relative_attention_bias},
//   encoder.block.{i}.layer.0.layer_norm, encoder.block.{i}.layer.1.DenseReluDense.{wi_0,wi_1,wo},
//   encoder.block.{i}.layer.1.layer_norm, encoder.final_layer_norm.
// Dropout is omitted: the encoder is frozen and always runs in eval mode, where it is the identity.
#pragma warning disable IDE1006 // HF attribute names

/// <summary>T5LayerNorm: RMSNorm without mean subtraction or bias, variance in float32.</summary>
internal sealed class T5LayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    public T5LayerNorm(int dim, double eps) : base(nameof(T5LayerNorm))
    {
        weight = nn.Parameter(ones(dim));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.to(float32).pow(2).mean([-1], keepdim: true);
        var y = x * (variance + _eps).rsqrt();
        return (weight * y.to(weight.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>T5Attention (encoder self-attention, bidirectional buckets).</summary>
internal sealed class T5Attention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear q;
    private readonly Linear k;
    private readonly Linear v;
    private readonly Linear o;
    private readonly Embedding? relative_attention_bias;
    private readonly T5Config _config;

    public T5Attention(T5Config config, bool hasRelativeAttentionBias) : base(nameof(T5Attention))
    {
        _config = config;
        q = nn.Linear(config.DModel, config.InnerDim, hasBias: false);
        k = nn.Linear(config.DModel, config.InnerDim, hasBias: false);
        v = nn.Linear(config.DModel, config.InnerDim, hasBias: false);
        o = nn.Linear(config.InnerDim, config.DModel, hasBias: false);
        if (hasRelativeAttentionBias)
        {
            relative_attention_bias = nn.Embedding(config.RelativeAttentionNumBuckets, config.NumHeads);
        }

        RegisterComponents();
    }

    /// <summary>
    /// T5's bucketing of relative positions (memory − query), bidirectional: half the buckets per
    /// direction, exact below max_exact = nb/2, log-spaced up to max_distance, clamped after.
    /// The log runs in float32 and is truncated by a cast to long, as in the reference.
    /// </summary>
    public static Tensor RelativePositionBucket(Tensor relativePosition, int numBuckets, int maxDistance)
    {
        using var scope = NewDisposeScope();
        var half = numBuckets / 2;
        var buckets = relativePosition.gt(0).to(int64) * half;
        var n = relativePosition.abs();
        var maxExact = half / 2;
        var isSmall = n.lt(maxExact);
        var large = (n.to(float32) / (double)maxExact).log()
            .div(Math.Log(maxDistance / (double)maxExact))
            .mul((double)(half - maxExact))
            .to(int64) + maxExact;
        large = large.clamp_max(half - 1);
        return (buckets + where(isSmall, n, large)).MoveToOuterDisposeScope();
    }

    /// <summary>Relative position bias (1, heads, q, k); only the first block owns the table.</summary>
    public Tensor ComputeBias(int queryLength, int keyLength, Device device)
    {
        if (relative_attention_bias is null)
        {
            throw new InvalidOperationException("only the first T5 block computes the position bias");
        }

        using var scope = NewDisposeScope();
        var context = arange(queryLength, dtype: int64, device: device).unsqueeze(1);
        var memory = arange(keyLength, dtype: int64, device: device).unsqueeze(0);
        var bucket = RelativePositionBucket(memory - context, _config.RelativeAttentionNumBuckets, _config.RelativeAttentionMaxDistance);
        var values = relative_attention_bias.forward(bucket); // q k h
        return values.permute(2, 0, 1).unsqueeze(0).MoveToOuterDisposeScope(); // 1 h q k
    }

    /// <param name="x">b n d</param>
    /// <param name="positionBias">b|1, h, n, n: relative bias plus the additive key mask.</param>
    public override Tensor forward(Tensor x, Tensor positionBias)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var n = x.shape[1];
        Tensor Heads(Tensor t) => t.view(b, n, _config.NumHeads, _config.DKv).transpose(1, 2); // b h n d
        var qs = Heads(q.forward(x));
        var ks = Heads(k.forward(x));
        var vs = Heads(v.forward(x));
        // No 1/sqrt(d_kv): T5 folds that factor into the initialisation of q.
        var scores = qs.matmul(ks.transpose(3, 2)) + positionBias;
        var weights = scores.to(float32).softmax(-1).to(scores.dtype);
        var merged = weights.matmul(vs).transpose(1, 2).contiguous().view(b, n, _config.InnerDim); // b n (h d)
        return o.forward(merged).MoveToOuterDisposeScope();
    }
}

internal sealed class T5LayerSelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly T5Attention SelfAttention;
    private readonly T5LayerNorm layer_norm;

    public T5LayerSelfAttention(T5Config config, bool hasRelativeAttentionBias) : base(nameof(T5LayerSelfAttention))
    {
        SelfAttention = new T5Attention(config, hasRelativeAttentionBias);
        layer_norm = new T5LayerNorm(config.DModel, config.LayerNormEpsilon);
        RegisterComponents();
    }

    public T5Attention Attention => SelfAttention;

    public override Tensor forward(Tensor x, Tensor positionBias)
    {
        using var normed = layer_norm.forward(x);
        using var attended = SelfAttention.forward(normed, positionBias);
        return x + attended;
    }
}

/// <summary>T5DenseGatedActDense: wo(gelu_new(wi_0 x) · wi_1 x).</summary>
internal sealed class T5DenseGatedActDense : nn.Module<Tensor, Tensor>
{
    private readonly Linear wi_0;
    private readonly Linear wi_1;
    private readonly Linear wo;

    public T5DenseGatedActDense(T5Config config) : base(nameof(T5DenseGatedActDense))
    {
        wi_0 = nn.Linear(config.DModel, config.DFf, hasBias: false);
        wi_1 = nn.Linear(config.DModel, config.DFf, hasBias: false);
        wo = nn.Linear(config.DFf, config.DModel, hasBias: false);
        RegisterComponents();
    }

    /// <summary>transformers `NewGELUActivation`: the tanh approximation written out term by term.</summary>
    public static Tensor GeluNew(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inner = (x + x.pow(3.0) * 0.044715) * Math.Sqrt(2.0 / Math.PI);
        return (x * 0.5 * (inner.tanh() + 1.0)).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var hidden = GeluNew(wi_0.forward(x)) * wi_1.forward(x);
        return wo.forward(hidden).MoveToOuterDisposeScope();
    }
}

internal sealed class T5LayerFF : nn.Module<Tensor, Tensor>
{
    private readonly T5DenseGatedActDense DenseReluDense;
    private readonly T5LayerNorm layer_norm;

    public T5LayerFF(T5Config config) : base(nameof(T5LayerFF))
    {
        DenseReluDense = new T5DenseGatedActDense(config);
        layer_norm = new T5LayerNorm(config.DModel, config.LayerNormEpsilon);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var normed = layer_norm.forward(x);
        using var ff = DenseReluDense.forward(normed);
        return x + ff;
    }
}

internal sealed class T5Block : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<nn.Module> layer;

    public T5Block(T5Config config, bool hasRelativeAttentionBias) : base(nameof(T5Block))
    {
        layer = nn.ModuleList<nn.Module>(new T5LayerSelfAttention(config, hasRelativeAttentionBias), new T5LayerFF(config));
        RegisterComponents();
    }

    public T5LayerSelfAttention SelfAttentionLayer => (T5LayerSelfAttention)layer[0];

    public override Tensor forward(Tensor x, Tensor positionBias)
    {
        using var attended = SelfAttentionLayer.forward(x, positionBias);
        return ((T5LayerFF)layer[1]).forward(attended);
    }
}

/// <summary>The per-stage outputs the parity fixture records.</summary>
internal sealed record T5EncoderTrace(Tensor Embeddings, Tensor PositionBias, Tensor ExtendedAttentionMask, Tensor Layer0Output, Tensor FinalLayerNormInput, Tensor LastHiddenState);

internal sealed class T5Stack : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<T5Block> block;
    private readonly T5LayerNorm final_layer_norm;

    public T5Stack(T5Config config, Embedding sharedEmbedding) : base(nameof(T5Stack))
    {
        embed_tokens = sharedEmbedding;
        block = nn.ModuleList(Enumerable.Range(0, config.NumLayers).Select(i => new T5Block(config, hasRelativeAttentionBias: i == 0)).ToArray());
        final_layer_norm = new T5LayerNorm(config.DModel, config.LayerNormEpsilon);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds, Tensor attentionMask)
    {
        var trace = Trace(inputIds, attentionMask);
        trace.Embeddings.Dispose();
        trace.PositionBias.Dispose();
        trace.ExtendedAttentionMask.Dispose();
        trace.Layer0Output.Dispose();
        trace.FinalLayerNormInput.Dispose();
        return trace.LastHiddenState;
    }

    /// <param name="inputIds">b n (int64)</param>
    /// <param name="attentionMask">b n, 1 = token, 0 = pad</param>
    public T5EncoderTrace Trace(Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var n = (int)inputIds.shape[1];
        var x = embed_tokens.forward(inputIds); // b n d, no sqrt(d) scaling and no absolute positions
        var embeddings = x;
        // ModuleUtilsMixin.get_extended_attention_mask: additive, keys only, finfo(float32).min at pads.
        var extended = (1.0 - attentionMask.to(float32)).unsqueeze(1).unsqueeze(1) * float.MinValue; // b 1 1 n
        var bias = block[0].SelfAttentionLayer.Attention.ComputeBias(n, n, x.device); // 1 h n n
        // The first block adds the mask to its bias and every later block reuses that sum.
        var biasWithMask = bias + extended; // b h n n
        Tensor? layer0 = null;
        for (var i = 0; i < block.Count; i++)
        {
            x = block[i].forward(x, biasWithMask);
            layer0 ??= x;
        }

        var last = final_layer_norm.forward(x);
        var trace = new T5EncoderTrace(embeddings, bias, extended, layer0!, x, last);
        foreach (var t in new[] { embeddings, bias, extended, layer0!, x, last })
        {
            t.MoveToOuterDisposeScope();
        }

        return trace;
    }
}

/// <summary>
/// The frozen T5 v1.1 text encoder (HF `T5EncoderModel`): token ids → last_hidden_state.
/// `shared` and `encoder.embed_tokens` are one tied table, as in HF; either key loads it.
/// </summary>
public sealed class T5Encoder : nn.Module<Tensor, Tensor, Tensor>
{
    private const string SharedKey = "shared.weight";
    private const string EmbedTokensKey = "encoder.embed_tokens.weight";

    private readonly Embedding shared;
    private readonly T5Stack encoder;

    public T5Encoder(T5Config config) : base(nameof(T5Encoder))
    {
        Config = config;
        shared = nn.Embedding(config.VocabSize, config.DModel);
        encoder = new T5Stack(config, shared);
        RegisterComponents();
    }

    public T5Config Config { get; }

    /// <summary>
    /// As HF lists it: the tied table under both `shared.weight` and `encoder.embed_tokens.weight`
    /// (TorchSharp lists a shared parameter once).
    /// </summary>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        var own = base.state_dict(null, prefix);
        destination ??= new Dictionary<string, Tensor>();
        foreach (var (key, value) in own)
        {
            destination[key] = value;
            if (key == (prefix ?? string.Empty) + SharedKey)
            {
                destination[(prefix ?? string.Empty) + EmbedTokensKey] = value;
            }
        }

        return destination;
    }

    /// <summary>last_hidden_state (b n d) for ids (b n, int64) and mask (b n, 1 = token).</summary>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask) => encoder.forward(inputIds, attentionMask);

    internal T5EncoderTrace Trace(Tensor inputIds, Tensor attentionMask) => encoder.Trace(inputIds, attentionMask);

    /// <summary>
    /// Loads a Hugging Face T5 state dict (an encoder-only one, or a full T5ForConditionalGeneration
    /// one whose `decoder.*` and `lm_head.*` entries are ignored). Every encoder weight must be present.
    /// </summary>
    public void LoadHuggingFaceState(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var own = state_dict();
        var expected = own.Keys.ToHashSet(StringComparer.Ordinal);
        var selected = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in state)
        {
            if (expected.Contains(key))
            {
                selected[key] = value;
            }
        }

        // The tied table may be stored under either name (HF `_tied_weights_keys`).
        if (!selected.ContainsKey(SharedKey) && selected.TryGetValue(EmbedTokensKey, out var embed))
        {
            selected[SharedKey] = embed;
        }

        selected[EmbedTokensKey] = selected.TryGetValue(SharedKey, out var table)
            ? table
            : throw new InvalidDataException($"{source}: neither '{SharedKey}' nor '{EmbedTokensKey}' is present; is this a T5 checkpoint?");

        var missing = expected.Where(k => !selected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidDataException($"{source}: {missing.Count} encoder weights are missing, e.g. '{missing[0]}'; the checkpoint does not match config.json");
        }

        foreach (var (key, value) in selected)
        {
            var target = own[key];
            if (!target.shape.SequenceEqual(value.shape))
            {
                throw new InvalidDataException($"{source}: '{key}' has shape [{string.Join(',', value.shape)}] but config.json implies [{string.Join(',', target.shape)}]");
            }
        }

        using var noGrad = no_grad();
        foreach (var (key, value) in selected)
        {
            using var converted = value.to(float32);
            own[key].copy_(converted);
        }
    }
}
