using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>Result of one quantisation: raw code rows (straight-through in training), indices, commitment loss.</summary>
internal sealed record VqResult(Tensor Quantized, Tensor Indices, Tensor CommitLoss) : IDisposable
{
    public void Dispose()
    {
        Quantized.Dispose();
        Indices.Dispose();
        CommitLoss.Dispose();
    }
}

/// <summary>
/// <c>VectorQuantize(dim, codebook_size, use_cosine_sim=True)</c> of vector-quantize-pytorch 1.1.2:
/// no projection (codebook_dim = dim), one codebook (<c>_codebook</c>), EMA decay 0.8, commitment
/// weight 1. In training the output is x + (q − x).detach() (straight-through estimator, van den Oord
/// et al. 2017, eq. 3) and the loss is ‖q.detach() − x‖² averaged (the commitment term).
/// </summary>
internal sealed class VectorQuantize : nn.Module
{
    private readonly CosineSimCodebook _codebook;

    public VectorQuantize(long dim, long codebookSize, double decay = 0.8, double commitmentWeight = 1.0)
        : base(nameof(VectorQuantize))
    {
        CommitmentWeight = commitmentWeight;
        _codebook = new CosineSimCodebook(dim, codebookSize, decay);
        register_module("_codebook", _codebook);
    }

    public double CommitmentWeight { get; }

    public CosineSimCodebook Codebook => _codebook;

    public long CodebookSize => _codebook.CodebookSize;

    /// <summary>x: (b, n, d) → quantised (b, n, d), indices (b, n), commitment loss [1].</summary>
    public VqResult forward(Tensor x, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], d = x.shape[2];
        var (q, idx) = _codebook.forward(x.reshape(-1, d));
        var quantize = q.reshape(b, n, d);
        var indices = idx.reshape(b, n);
        Tensor loss;
        if (training)
        {
            quantize = x + (quantize - x).detach();
            Tensor commit;
            if (mask is not null)
            {
                var perElement = nn.functional.mse_loss(quantize.detach(), x, nn.Reduction.None); // b n d
                commit = perElement.masked_select(mask.unsqueeze(-1).expand_as(perElement)).mean();
            }
            else
            {
                commit = nn.functional.mse_loss(quantize.detach(), x);
            }

            loss = (commit * CommitmentWeight).reshape(1);
        }
        else
        {
            loss = zeros(1, device: x.device);
        }

        return new VqResult(quantize.MoveToOuterDisposeScope(), indices.MoveToOuterDisposeScope(), loss.MoveToOuterDisposeScope());
    }

    protected override void RegisterComponents()
    {
        // Registered explicitly: `_codebook`, as in the reference.
    }
}
