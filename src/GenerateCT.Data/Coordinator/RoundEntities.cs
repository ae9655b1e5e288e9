namespace GenerateCT.Data.Coordinator;

/// <summary>
/// A training round of one stage: from a base version, with the local training settings sent to nodes,
/// the minimum number of updates k, a deadline and the aggregation strategy with its parameters.
/// </summary>
public sealed class TrainingRound
{
    public long Id { get; set; }

    /// <summary>"ctvit", "maskgit" or "superres".</summary>
    public string Stage { get; set; } = "";

    public long BaseModelVersion { get; set; }

    /// <summary>"open", "aggregating", "completed", "failed".</summary>
    public string State { get; set; } = "open";

    public int LocalSteps { get; set; }

    public double LearningRate { get; set; }

    public int BatchSize { get; set; }

    /// <summary>k: the round never aggregates fewer updates.</summary>
    public int MinNodes { get; set; }

    public DateTimeOffset Deadline { get; set; }

    /// <summary>"fedavg", "fedprox", "fedadam", "fedyogi".</summary>
    public string Strategy { get; set; } = "fedavg";

    public double ProximalMu { get; set; }

    public double ServerLearningRate { get; set; }

    public double Beta1 { get; set; }

    public double Beta2 { get; set; }

    public double Tau { get; set; }

    /// <summary>The nodes enrolled when the round started: the round closes early once all of them answered.</summary>
    public List<string> Participants { get; set; } = [];

    /// <summary>The operator (certificate name) who started it.</summary>
    public string StartedBy { get; set; } = "";

    public long? ResultVersion { get; set; }

    public string? FailureReason { get; set; }

    public DateTimeOffset OpenedAt { get; set; }

    public DateTimeOffset? ClosedAt { get; set; }
}

/// <summary>A global model version: per-stage weights files, content-addressed by their version id.</summary>
public sealed class ModelVersion
{
    /// <summary>The version number (1, 2, …).</summary>
    public long Id { get; set; }

    public long? ParentId { get; set; }

    public string Label { get; set; } = "";

    /// <summary>The round whose aggregate made it; null when an operator registered it.</summary>
    public long? FromRound { get; set; }

    /// <summary>The operator who registered it, or "coordinator" for a round's result.</summary>
    public string CreatedBy { get; set; } = "";

    public DateTimeOffset CreatedAt { get; set; }

    public List<ModelWeights> Weights { get; set; } = [];
}

/// <summary>One stage's weights of a version: the file <c>models/SHA256.gctw</c> under the coordinator's data directory.</summary>
public sealed class ModelWeights
{
    public long VersionId { get; set; }

    public string Stage { get; set; } = "";

    /// <summary>The weights file's version id (SHA-256 of its tensors' headers and hashes), lower-case hex.</summary>
    public string Sha256 { get; set; } = "";

    public long ByteCount { get; set; }

    public int TensorCount { get; set; }
}

/// <summary>A node's update for a round: what it uploaded and whether it was accepted or refused (and why).</summary>
public sealed class RoundUpdate
{
    public long RoundId { get; set; }

    /// <summary>The certificate name of the node that sent it.</summary>
    public string NodeId { get; set; } = "";

    public long SampleCount { get; set; }

    /// <summary>Where the update is spooled (complete once accepted).</summary>
    public string SpoolPath { get; set; } = "";

    /// <summary>"receiving", "accepted" or "refused".</summary>
    public string State { get; set; } = "receiving";

    public string? Reason { get; set; }

    /// <summary>The accepted update file's version id.</summary>
    public string? UpdateSha256 { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>A scalar metric a node reported for a round (only names on the coordinator's allow-list).</summary>
public sealed class RoundMetric
{
    public long RoundId { get; set; }

    public string NodeId { get; set; } = "";

    public string Name { get; set; } = "";

    public double Value { get; set; }

    public DateTimeOffset ReportedAt { get; set; }
}

/// <summary>The FedAdam/FedYogi server optimizer state (m, v) of a stage: a weights file written by its last round.</summary>
public sealed class ServerOptimizerRecord
{
    public string Stage { get; set; } = "";

    public string Path { get; set; } = "";

    public long RoundId { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}
