using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>
/// Continuous relative position bias (Liu et al. 2022, "Swin Transformer V2", §3.3): the offsets
/// position_i − position_j over an 'ij' grid flattened in row-major order are log-spaced as
/// sign(d)·log(|d| + 1) and mapped by an MLP to one bias per head:
/// <c>net.0</c> Linear(num_dims, dim) + LeakyReLU(0.1), <c>net.1 … net.{layers-1}</c> Linear(dim, dim) +
/// LeakyReLU(0.1), <c>net.{layers}</c> Linear(dim, heads). Output (heads, n, n).
/// </summary>
internal sealed class ContinuousPositionBias : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> net;

    public ContinuousPositionBias(long dim, long heads, int numDims = 2, int layers = 2, bool logDist = true)
        : base(nameof(ContinuousPositionBias))
    {
        NumDims = numDims;
        LogDist = logDist;
        net = new ModuleList<nn.Module<Tensor, Tensor>>();
        net.append(nn.Sequential(("0", nn.Linear(numDims, dim)), ("1", nn.LeakyReLU(0.1))));
        for (int l = 0; l < layers - 1; l++)
        {
            net.append(nn.Sequential(("0", nn.Linear(dim, dim)), ("1", nn.LeakyReLU(0.1))));
        }

        net.append(nn.Linear(dim, heads));
        RegisterComponents();
    }

    public int NumDims { get; }

    public bool LogDist { get; }

    /// <summary>Runs the MLP on already computed relative positions (n, n, num_dims).</summary>
    public override Tensor forward(Tensor relPos)
    {
        using var scope = NewDisposeScope();
        var x = relPos;
        foreach (var layer in net)
        {
            x = layer.forward(x);
        }

        return x.permute(2, 0, 1).MoveToOuterDisposeScope(); // i j h → h i j
    }

    /// <summary>Bias for a grid of the given sizes (e.g. (h, w) or (t, h, w)), on <paramref name="device"/>.</summary>
    public Tensor forward(Device device, params long[] dimensions)
    {
        if (dimensions.Length != NumDims)
        {
            throw new ArgumentException($"expected {NumDims} grid sizes, got {dimensions.Length}", nameof(dimensions));
        }

        using var scope = NewDisposeScope();
        var positions = dimensions.Select(d => arange(d, dtype: float32, device: device)).ToArray();
        var grids = meshgrid(positions, indexing: "ij");
        var grid = stack(grids).reshape(NumDims, -1).t();              // (n, c)
        var rel = grid.unsqueeze(1) - grid.unsqueeze(0);               // (i, j, c) = pos_i − pos_j
        if (LogDist)
        {
            rel = rel.sign() * (rel.abs() + 1).log();
        }

        return forward(rel).MoveToOuterDisposeScope();
    }
}
