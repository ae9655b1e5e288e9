using TorchSharp.Utils;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>
/// The reference cosine-similarity attention (attention.py <c>Attention</c>, after Henry et al. 2020,
/// "Query-Key Normalization for Transformers"): q and k are l2-normalised per head, multiplied by learned
/// per-channel <c>q_scale</c>/<c>k_scale</c>, and the logits are multiplied by a fixed scale (8), not
/// 1/√d. Quirks kept on purpose so reference weights give the same numbers:
/// <list type="bullet">
/// <item>self-attention takes keys/values from the <b>un-normalised</b> input (only the queries go through
/// <c>norm</c>); cross-attention keys/values come from <c>context_norm(context)</c>;</item>
/// <item><c>null_kv</c> is (heads, 2·num_null_kv, dim_head) read as <c>h (n r) d</c> with r = 2: even rows
/// are null keys, odd rows null values, prepended to the real ones; with num_null_kv = 0 it is a
/// zero-element parameter that still exists in the state dict;</item>
/// <item>masks fill with −float.MaxValue; a causal layer adds an ALiBi bias and a causal mask.</item>
/// </list>
/// </summary>
internal sealed class CosineSimAttention : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "null_kv")]
    private Parameter _nullKv;

    [ComponentName(Name = "q_scale")]
    private Parameter _qScale;

    [ComponentName(Name = "k_scale")]
    private Parameter _kScale;

    private readonly GammaLayerNorm _norm;
    private readonly nn.Module<Tensor, Tensor> _contextNorm;
    private readonly Linear _toQ;
    private readonly Linear _toKv;
    private readonly Linear _toOut;
    private readonly Dropout _attnDropout;

    public CosineSimAttention(
        long dim,
        long? dimContext = null,
        long dimHead = 64,
        long heads = 8,
        bool causal = false,
        long numNullKv = 0,
        bool normContext = true,
        double dropout = 0,
        double scale = 8)
        : base(nameof(CosineSimAttention))
    {
        Heads = heads;
        Causal = causal;
        Scale = scale;
        NumNullKv = numNullKv;
        long inner = dimHead * heads;
        long ctx = dimContext ?? dim;

        _attnDropout = nn.Dropout(dropout);
        _norm = new GammaLayerNorm(dim);
        _contextNorm = normContext ? new GammaLayerNorm(ctx) : nn.Identity();
        _nullKv = new Parameter(randn(heads, 2 * numNullKv, dimHead));
        _toQ = nn.Linear(dim, inner, hasBias: false);
        _toKv = nn.Linear(ctx, inner * 2, hasBias: false);
        _qScale = new Parameter(ones(dimHead));
        _kScale = new Parameter(ones(dimHead));
        _toOut = nn.Linear(inner, dim, hasBias: false);

        // PyTorch state-dict order: own parameters (in assignment order), then children.
        register_parameter("null_kv", _nullKv);
        register_parameter("q_scale", _qScale);
        register_parameter("k_scale", _kScale);
        register_module("attn_dropout", _attnDropout);
        register_module("norm", _norm);
        register_module("context_norm", _contextNorm);
        register_module("to_q", _toQ);
        register_module("to_kv", _toKv);
        register_module("to_out", _toOut);
    }

    public long Heads { get; }

    public bool Causal { get; }

    public double Scale { get; }

    public long NumNullKv { get; }

    public override Tensor forward(Tensor x) => forward(x, null, null, null);

    /// <param name="x">(b, n, dim)</param>
    /// <param name="mask">(b, j) bool, true = attend; padded on the left for the null keys.</param>
    /// <param name="context">(b, j, dim_context) for cross-attention, else null.</param>
    /// <param name="attnBias">(heads, i, j) or (b, heads, i, j), added after the scale.</param>
    public Tensor forward(Tensor x, Tensor? mask, Tensor? context, Tensor? attnBias)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0];

        if (context is not null)
        {
            context = _contextNorm.forward(context);
        }

        var kvInput = context ?? x; // the un-normalised x for self-attention, as in the reference
        x = _norm.forward(x);

        var q = SplitHeads(_toQ.forward(x));               // b h i d
        var kv = _toKv.forward(kvInput).chunk(2, -1);
        var k = SplitHeads(kv[0]);                          // b h j d
        var v = SplitHeads(kv[1]);

        if (NumNullKv > 0)
        {
            // h (n r) d → h n r d; r = 0 keys, r = 1 values
            var nullKv = _nullKv.reshape(Heads, NumNullKv, 2, -1);
            var nk = nullKv.select(2, 0).unsqueeze(0).expand(batch, -1, -1, -1);
            var nv = nullKv.select(2, 1).unsqueeze(0).expand(batch, -1, -1, -1);
            k = cat([nk, k], -2);
            v = cat([nv, v], -2);
        }

        q = nn.functional.normalize(q, p: 2, dim: -1) * _qScale;
        k = nn.functional.normalize(k, p: 2, dim: -1) * _kScale;

        var sim = q.matmul(k.transpose(-1, -2)) * Scale; // b h i j
        long i = sim.shape[^2];
        long j = sim.shape[^1];

        if (attnBias is not null)
        {
            if (NumNullKv > 0)
            {
                attnBias = nn.functional.pad(attnBias, [NumNullKv, 0], PaddingModes.Constant, 0);
            }

            sim = sim + attnBias;
        }

        float maskValue = -float.MaxValue;
        if (mask is not null)
        {
            if (NumNullKv > 0)
            {
                mask = nn.functional.pad(mask.to(int8), [NumNullKv, 0], PaddingModes.Constant, 1).to(@bool);
            }

            sim = sim.masked_fill(mask.logical_not().reshape(batch, 1, 1, j), maskValue);
        }

        if (Causal)
        {
            sim = sim + AlibiPositionalBias.Bias(sim.shape[^3], i, j, sim.device);
            var causalMask = ones(i, j, dtype: @bool, device: sim.device).triu(j - i + 1);
            sim = sim.masked_fill(causalMask, maskValue);
        }

        var attn = _attnDropout.forward(sim.softmax(-1));
        var @out = attn.matmul(v);                              // b h i d
        @out = @out.transpose(1, 2).reshape(batch, @out.shape[2], -1); // b i (h d)
        return _toOut.forward(@out).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t) =>
        t.reshape(t.shape[0], t.shape[1], Heads, -1).transpose(1, 2); // b n (h d) → b h n d

    protected override void RegisterComponents()
    {
        // Registered explicitly in the constructor, in the reference order.
    }
}
