namespace GenerateCT.Federation.Aggregation;

/// <summary>
/// A round's aggregation settings: the strategy, FedProx's μ (which nodes apply) and the FedOpt
/// server optimizer's η, β1, β2, τ. Defaults of the factories are Flower's.
/// </summary>
public sealed record AggregationConfig
{
    public AggregationStrategy Strategy { get; init; } = AggregationStrategy.FedAvg;

    /// <summary>FedProx μ: nodes minimise their loss plus μ/2·‖w − w_global‖² (0 = plain local training).</summary>
    public double ProximalMu { get; init; }

    /// <summary>FedAdam/FedYogi server learning rate η.</summary>
    public double ServerLearningRate { get; init; } = 0.1;

    /// <summary>FedAdam/FedYogi first-moment decay β1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>FedAdam/FedYogi second-moment decay β2.</summary>
    public double Beta2 { get; init; } = 0.99;

    /// <summary>FedAdam/FedYogi adaptivity τ (added to √v; v starts at τ²).</summary>
    public double Tau { get; init; } = 1e-9;

    /// <summary>The strategy keeps optimizer state (m, v) between rounds.</summary>
    public bool HasServerOptimizer => Strategy is AggregationStrategy.FedAdam or AggregationStrategy.FedYogi;

    public static AggregationConfig FedAvg() => new();

    public static AggregationConfig FedProx(double mu) => new() { Strategy = AggregationStrategy.FedProx, ProximalMu = mu };

    public static AggregationConfig FedAdam(double eta = 0.1, double beta1 = 0.9, double beta2 = 0.99, double tau = 1e-9) =>
        new() { Strategy = AggregationStrategy.FedAdam, ServerLearningRate = eta, Beta1 = beta1, Beta2 = beta2, Tau = tau };

    public static AggregationConfig FedYogi(double eta = 0.01, double beta1 = 0.9, double beta2 = 0.99, double tau = 1e-3) =>
        new() { Strategy = AggregationStrategy.FedYogi, ServerLearningRate = eta, Beta1 = beta1, Beta2 = beta2, Tau = tau };

    /// <exception cref="ArgumentException">a setting is out of its range (named in the message).</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Strategy))
        {
            throw new ArgumentException($"unknown aggregation strategy {(int)Strategy}");
        }

        Check(ProximalMu >= 0 && double.IsFinite(ProximalMu), $"proximal μ must be ≥ 0, not {ProximalMu}");
        if (HasServerOptimizer)
        {
            Check(ServerLearningRate > 0 && double.IsFinite(ServerLearningRate), $"server learning rate η must be > 0, not {ServerLearningRate}");
            Check(Beta1 is >= 0 and < 1, $"β1 must be in [0, 1), not {Beta1}");
            Check(Beta2 is >= 0 and < 1, $"β2 must be in [0, 1), not {Beta2}");
            Check(Tau > 0 && double.IsFinite(Tau), $"τ must be > 0, not {Tau}");
        }

        static void Check(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException(message);
            }
        }
    }
}
