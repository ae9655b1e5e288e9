using GenerateCT.Federation.Aggregation;
using GenerateCT.Federation.V1;

namespace GenerateCT.Coordinator.Rounds;

/// <summary>The names stages, strategies and round states have in the coordinator's database.</summary>
internal static class RoundNames
{
    public const string Open = "open";
    public const string Aggregating = "aggregating";
    public const string Completed = "completed";
    public const string Failed = "failed";

    public const string Receiving = "receiving";
    public const string Accepted = "accepted";
    public const string Refused = "refused";

    public static string Stage(ModelStage stage) => stage switch
    {
        ModelStage.Ctvit => "ctvit",
        ModelStage.Maskgit => "maskgit",
        ModelStage.Superres => "superres",
        _ => throw new ArgumentException($"unknown model stage {(int)stage}"),
    };

    public static ModelStage Stage(string stage) => stage switch
    {
        "ctvit" => ModelStage.Ctvit,
        "maskgit" => ModelStage.Maskgit,
        "superres" => ModelStage.Superres,
        _ => ModelStage.Unspecified,
    };

    public static string Strategy(RoundStrategy strategy) => strategy switch
    {
        RoundStrategy.Unspecified or RoundStrategy.Fedavg => "fedavg",
        RoundStrategy.Fedprox => "fedprox",
        RoundStrategy.Fedadam => "fedadam",
        RoundStrategy.Fedyogi => "fedyogi",
        _ => throw new ArgumentException($"unknown strategy {(int)strategy}"),
    };

    public static RoundStrategy Strategy(string strategy) => strategy switch
    {
        "fedprox" => RoundStrategy.Fedprox,
        "fedadam" => RoundStrategy.Fedadam,
        "fedyogi" => RoundStrategy.Fedyogi,
        _ => RoundStrategy.Fedavg,
    };

    /// <summary>The aggregation settings a round's row describes.</summary>
    public static AggregationConfig Config(GenerateCT.Data.Coordinator.TrainingRound round) => round.Strategy switch
    {
        "fedprox" => AggregationConfig.FedProx(round.ProximalMu),
        "fedadam" => AggregationConfig.FedAdam(round.ServerLearningRate, round.Beta1, round.Beta2, round.Tau),
        "fedyogi" => AggregationConfig.FedYogi(round.ServerLearningRate, round.Beta1, round.Beta2, round.Tau),
        _ => AggregationConfig.FedAvg(),
    };

    public static long UnixMs(DateTimeOffset? at) => at?.ToUnixTimeMilliseconds() ?? 0;
}
