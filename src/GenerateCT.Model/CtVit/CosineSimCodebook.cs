using GenerateCT.Model.Precision;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// The EMA cosine-similarity codebook of vector-quantize-pytorch 1.1.2 (<c>CosineSimCodebook</c>, k-means
/// off, no dead-code expiry). All state is buffers, not parameters: <c>initted</c> [1],
/// <c>cluster_size</c> [1, K] and <c>embed</c> [1, K, d]. The nearest code is the argmax of
/// cos(x, e_k); the quantised value is the <b>raw</b> row <c>embed[k]</c>. In training the codebook
/// moves by exponential moving average (van den Oord et al. 2017, "Neural Discrete Representation
/// Learning", appendix A.1) towards the l2-normalised mean of the inputs assigned to each code.
/// </summary>
internal sealed class CosineSimCodebook : nn.Module
{
    [ComponentName(Name = "initted")]
    private Tensor _initted;

    [ComponentName(Name = "cluster_size")]
    private Tensor _clusterSize;

    [ComponentName(Name = "embed")]
    private Tensor _embed;

    public CosineSimCodebook(long dim, long codebookSize, double decay = 0.8) : base(nameof(CosineSimCodebook))
    {
        Dim = dim;
        CodebookSize = codebookSize;
        Decay = decay;
        var init = empty(1, codebookSize, dim);
        nn.init.kaiming_uniform_(init);
        _embed = nn.functional.normalize(init, p: 2, dim: -1);
        init.Dispose();
        _initted = ones(1);
        _clusterSize = zeros(1, codebookSize);
        register_buffer("initted", _initted);
        register_buffer("cluster_size", _clusterSize);
        register_buffer("embed", _embed);
    }

    public long Dim { get; }

    public long CodebookSize { get; }

    public double Decay { get; }

    /// <summary>[1, K, d] codebook rows (not normalised).</summary>
    public Tensor Embed => _embed;

    /// <summary>[1, K] EMA of the per-code assignment counts.</summary>
    public Tensor ClusterSize => _clusterSize;

    /// <summary>Quantises x (n, d); returns the raw code rows (n, d) and indices (n).</summary>
    public (Tensor Quantize, Tensor Indices) forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Float32 even inside a mixed-precision forward: the reference runs the codebook with autocast off.
        using var fullPrecision = Autocast.IsEnabled(x.device.type) ? Autocast.Disabled(x.device.type) : null;
        var flatten = nn.functional.normalize(x.to(float32), p: 2, dim: -1); // n d
        Tensor embed = _embed[0];                                               // K d
        var embedNormalized = nn.functional.normalize(embed, p: 2, dim: -1);
        var dist = flatten.matmul(embedNormalized.t());                        // n K
        var indices = dist.argmax(-1);                                         // n
        var quantize = embed.index_select(0, indices);                         // n d

        if (training)
        {
            using var noGrad = no_grad();
            var onehot = nn.functional.one_hot(indices, CodebookSize).to(float32); // n K
            var bins = onehot.sum(dim: 0);                                              // K
            _clusterSize.mul_(Decay).add_(bins.unsqueeze(0), alpha: 1 - Decay); // lerp towards bins by 1 − decay
            var zeroMask = bins.eq(0);
            var safeBins = bins.masked_fill(zeroMask, 1.0);
            var embedSum = onehot.t().matmul(flatten.detach());                     // K d
            var target = nn.functional.normalize(embedSum / safeBins.unsqueeze(1), p: 2, dim: -1);
            // Codes that received nothing move towards their own normalised row (the reference quirk).
            target = where(zeroMask.unsqueeze(1), embedNormalized, target);
            _embed.mul_(Decay).add_(target.unsqueeze(0), alpha: 1 - Decay);
        }

        return (quantize.MoveToOuterDisposeScope(), indices.MoveToOuterDisposeScope());
    }

    protected override void RegisterComponents()
    {
        // Buffers registered explicitly in the reference order.
    }
}
