using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>
/// ALiBi linear distance bias (Press et al. 2022, "Train Short, Test Long", §3): head h adds
/// −m_h·|i − j| to its logits, with the geometric slopes m_h of the paper. Used by causal
/// <see cref="CosineSimAttention"/>; it has no state-dict entries (the reference buffers are non-persistent).
/// </summary>
internal static class AlibiPositionalBias
{
    /// <summary>Bias of shape (heads, i, j) for queries aligned to the last i of j keys.</summary>
    public static Tensor Bias(long heads, long i, long j, Device device)
    {
        using var scope = NewDisposeScope();
        var slopes = tensor(Slopes((int)heads).Select(s => (float)s).ToArray(), device: device).reshape(-1, 1, 1);
        var iRange = arange(j - i, j, device: device, dtype: float32).reshape(1, -1, 1);
        var jRange = arange(j, device: device, dtype: float32).reshape(1, 1, -1);
        var bias = -(jRange - iRange).abs() * slopes; // h i j
        return bias.MoveToOuterDisposeScope();
    }

    /// <summary>The slope schedule of the ALiBi paper, extended by interleaving for non-powers of two.</summary>
    public static double[] Slopes(int heads)
    {
        static double[] PowerOfTwo(int n)
        {
            double start = Math.Pow(2, -Math.Pow(2, -(Math.Log2(n) - 3)));
            return Enumerable.Range(0, n).Select(i => start * Math.Pow(start, i)).ToArray();
        }

        if (Math.Log2(heads) % 1 == 0)
        {
            return PowerOfTwo(heads);
        }

        int closest = 1 << (int)Math.Floor(Math.Log2(heads));
        return PowerOfTwo(closest)
            .Concat(PowerOfTwo(2 * closest).Where((_, k) => k % 2 == 0).Take(heads - closest))
            .ToArray();
    }
}
