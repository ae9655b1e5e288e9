namespace GenerateCT.Federation.Aggregation;

/// <summary>How a round's updates become the next global version.</summary>
public enum AggregationStrategy
{
    /// <summary>Sample-count-weighted mean of the updates (McMahan et al. 2017, FedAvg).</summary>
    FedAvg,

    /// <summary>FedAvg on the server; nodes add the proximal term μ/2·‖w − w_global‖² to their local loss (Li et al. 2020, FedProx).</summary>
    FedProx,

    /// <summary>Server Adam on the mean update (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2).</summary>
    FedAdam,

    /// <summary>Server Yogi on the mean update (Reddi et al. 2021, Algorithm 2).</summary>
    FedYogi,
}
