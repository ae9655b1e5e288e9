namespace GenerateCT.Federation.Aggregation;

/// <summary>The server's step from the base weights and the sample-weighted sum of deltas.</summary>
internal static class ServerUpdate
{
    /// <summary>FedAvg/FedProx: x ← base + Σ nₖΔₖ / Σ nₖ (in place in <paramref name="sum"/>).</summary>
    public static void Average(ReadOnlySpan<float> baseWeights, Span<float> sum, float inverseCount)
    {
        for (int j = 0; j < sum.Length; j++)
        {
            sum[j] = baseWeights[j] + (sum[j] * inverseCount);
        }
    }

    /// <summary>
    /// Reddi et al. 2021, Algorithm 2, with Δ = Σ nₖΔₖ / Σ nₖ:
    /// m ← β1·m + (1 − β1)·Δ;
    /// Adam: v ← β2·v + (1 − β2)·Δ²; Yogi: v ← v − (1 − β2)·Δ²·sign(v − Δ²);
    /// x ← base + η·m / (√v + τ). In place: <paramref name="sum"/> becomes x; m and v are updated.
    /// </summary>
    public static void Adaptive(AggregationConfig config, ReadOnlySpan<float> baseWeights, Span<float> sum, float inverseCount, Span<float> m, Span<float> v)
    {
        float beta1 = (float)config.Beta1, beta2 = (float)config.Beta2, eta = (float)config.ServerLearningRate, tau = (float)config.Tau;
        bool yogi = config.Strategy == AggregationStrategy.FedYogi;
        for (int j = 0; j < sum.Length; j++)
        {
            float delta = sum[j] * inverseCount;
            float squared = delta * delta;
            m[j] = (beta1 * m[j]) + ((1 - beta1) * delta);
            v[j] = yogi
                ? v[j] - ((1 - beta2) * squared * MathF.Sign(v[j] - squared))
                : (beta2 * v[j]) + ((1 - beta2) * squared);
            sum[j] = baseWeights[j] + (eta * m[j] / (MathF.Sqrt(v[j]) + tau));
        }
    }
}
