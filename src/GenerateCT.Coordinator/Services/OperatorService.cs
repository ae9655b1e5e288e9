using System.Text.Json;
using GenerateCT.Coordinator.Rounds;
using GenerateCT.Coordinator.Security;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Coordinator;
using GenerateCT.Federation;
using GenerateCT.Federation.Aggregation;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Coordinator.Services;

/// <summary>
/// operator.proto: register global versions, start rounds, read the federation's status. Every method
/// requires an operator certificate (<see cref="FederationPolicies.Operator"/>) and every call is a row
/// of the coordinator's audit trail naming the operator's certificate subject.
/// </summary>
[Authorize(Policy = FederationPolicies.Operator)]
internal sealed class OperatorService(IDbContextFactory<CoordinatorDb> databases, AuditTrail audit, CoordinatorPki pki, ModelStore store)
    : GenerateCT.Federation.Operator.V1.Operator.OperatorBase
{
    private const int MaxLabel = 128;
    private const int DefaultStatusRounds = 20;

    /// <summary>Receives a header, then per stage the stage and its chunks; stores each stage's weights at their content address.</summary>
    public override Task<ModelVersionInfo> RegisterModel(IAsyncStreamReader<RegisterModelMessage> requestStream, ServerCallContext context) =>
        AuditRefusalAsync(context, "operator:register-model", () => RegisterAsync(requestStream, context));

    /// <summary>Opens a round of one stage from a version that has it; the participants are the nodes enrolled now.</summary>
    public override Task<RoundStatus> StartRound(StartRoundRequest request, ServerCallContext context) =>
        AuditRefusalAsync(context, "operator:start-round", () => StartAsync(request, context));

    private async Task<ModelVersionInfo> RegisterAsync(IAsyncStreamReader<RegisterModelMessage> requestStream, ServerCallContext context)
    {
        var peer = FederationClaims.Peer(context.GetHttpContext().User);
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.BodyCase != RegisterModelMessage.BodyOneofCase.Header)
        {
            throw Invalid("the first message must be the header");
        }

        var header = requestStream.Current.Header;
        if (header.Label.Length > MaxLabel)
        {
            throw Invalid($"label is longer than {MaxLabel} characters");
        }

        var stages = new Dictionary<string, ModelWeights>();
        string? stage = null;
        ChunkAssembler? assembler = null;
        async Task FinishStageAsync()
        {
            if (stage is null)
            {
                return;
            }

            var weights = Assembled(assembler!);
            if (weights.Count == 0)
            {
                throw Invalid($"stage {stage} has no tensors");
            }

            var (sha, bytes, tensors) = await store.StoreAsync(weights, cancellationToken);
            stages[stage] = new ModelWeights { Stage = stage, Sha256 = sha, ByteCount = bytes, TensorCount = tensors };
        }

        while (await requestStream.MoveNext(cancellationToken))
        {
            var message = requestStream.Current;
            switch (message.BodyCase)
            {
                case RegisterModelMessage.BodyOneofCase.Stage:
                    await FinishStageAsync();
                    stage = StageOf(message.Stage);
                    if (stages.ContainsKey(stage))
                    {
                        throw Invalid($"stage {stage} is sent twice");
                    }

                    assembler = new ChunkAssembler();
                    break;
                case RegisterModelMessage.BodyOneofCase.Chunk when assembler is not null:
                    try
                    {
                        assembler.Add(message.Chunk);
                    }
                    catch (FederationException e)
                    {
                        throw Invalid(e.Message);
                    }

                    break;
                default:
                    throw Invalid("after the header: a stage, then its chunks");
            }
        }

        await FinishStageAsync();
        if (stages.Count == 0)
        {
            throw Invalid("no stage was sent");
        }

        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        if (header.ParentVersion != 0)
        {
            var parent = await db.ModelVersions.Include(v => v.Weights).SingleOrDefaultAsync(v => v.Id == header.ParentVersion, cancellationToken)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"no version {header.ParentVersion}"));
            foreach (var w in parent.Weights.Where(w => !stages.ContainsKey(w.Stage)))
            {
                stages[w.Stage] = new ModelWeights { Stage = w.Stage, Sha256 = w.Sha256, ByteCount = w.ByteCount, TensorCount = w.TensorCount };
            }
        }

        var version = new ModelVersion
        {
            ParentId = header.ParentVersion == 0 ? null : header.ParentVersion,
            Label = header.Label,
            CreatedBy = peer.Name,
            CreatedAt = DateTimeOffset.UtcNow,
            Weights = [.. stages.Values.OrderBy(w => RoundNames.Stage(w.Stage))],
        };
        db.ModelVersions.Add(version);
        await db.SaveChangesAsync(cancellationToken);
        await AuditAsync(peer, context, "operator:register-model", new { version = version.Id, parent = version.ParentId, label = version.Label, stages = version.Weights.Select(w => new { w.Stage, w.Sha256, w.ByteCount }) });
        return Info(version);
    }

    private async Task<RoundStatus> StartAsync(StartRoundRequest request, ServerCallContext context)
    {
        var peer = FederationClaims.Peer(context.GetHttpContext().User);
        var cancellationToken = context.CancellationToken;
        var stage = StageOf(request.Stage);
        if (request.LocalSteps < 1 || request.BatchSize < 1 || !(request.LearningRate > 0) || !double.IsFinite(request.LearningRate))
        {
            throw Invalid("local_steps and batch_size must be at least 1 and learning_rate a positive number");
        }

        if (request.MinNodes < 1)
        {
            throw Invalid("min_nodes (k) must be at least 1");
        }

        if (request.DeadlineSeconds is < 1 or > 30L * 24 * 3600)
        {
            throw Invalid("deadline_seconds must be between 1 second and 30 days");
        }

        var round = new TrainingRound
        {
            Stage = stage,
            State = RoundNames.Open,
            LocalSteps = request.LocalSteps,
            LearningRate = request.LearningRate,
            BatchSize = request.BatchSize,
            MinNodes = request.MinNodes,
            OpenedAt = DateTimeOffset.UtcNow,
            Deadline = DateTimeOffset.UtcNow.AddSeconds(request.DeadlineSeconds),
            StartedBy = peer.Name,
        };
        var config = Config(request);
        round.Strategy = RoundNames.Strategy(request.Strategy);
        (round.ProximalMu, round.ServerLearningRate, round.Beta1, round.Beta2, round.Tau) = (config.ProximalMu, config.ServerLearningRate, config.Beta1, config.Beta2, config.Tau);

        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var baseVersion = request.BaseVersion != 0
            ? await db.ModelVersions.Where(v => v.Id == request.BaseVersion && v.Weights.Any(w => w.Stage == stage)).Select(v => (long?)v.Id).SingleOrDefaultAsync(cancellationToken)
            : await db.ModelVersions.Where(v => v.Weights.Any(w => w.Stage == stage)).MaxAsync(v => (long?)v.Id, cancellationToken);
        round.BaseModelVersion = baseVersion
            ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, request.BaseVersion != 0 ? $"version {request.BaseVersion} has no {stage} weights" : $"no version has {stage} weights: register one first (gct federation models register)"));
        round.Participants = await db.Nodes.OrderBy(n => n.NodeId).Select(n => n.NodeId).ToListAsync(cancellationToken);
        db.Rounds.Add(round);
        await db.SaveChangesAsync(cancellationToken);
        await AuditAsync(peer, context, "operator:start-round", new
        {
            round = round.Id, stage, baseVersion = round.BaseModelVersion, localSteps = round.LocalSteps, learningRate = round.LearningRate, batchSize = round.BatchSize,
            k = round.MinNodes, deadline = round.Deadline, strategy = round.Strategy, mu = round.ProximalMu, eta = round.ServerLearningRate, participants = round.Participants,
        });
        store.SignalRoundsChanged();
        return Status(round, [], []);
    }

    public override async Task<FederationStatus> GetStatus(GetStatusRequest request, ServerCallContext context)
    {
        var peer = FederationClaims.Peer(context.GetHttpContext().User);
        var cancellationToken = context.CancellationToken;
        int take = request.Rounds > 0 ? Math.Min(request.Rounds, 1000) : DefaultStatusRounds;
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var status = new FederationStatus
        {
            FederationId = pki.Federation,
            CurrentModelVersion = await db.ModelVersions.MaxAsync(v => (long?)v.Id, cancellationToken) ?? 0,
        };
        foreach (var n in await db.Nodes.OrderBy(n => n.NodeId).ToListAsync(cancellationToken))
        {
            status.Nodes.Add(new NodeStatus
            {
                NodeId = n.NodeId, EnrolledUnixMs = RoundNames.UnixMs(n.EnrolledAt), LastContactUnixMs = RoundNames.UnixMs(n.LastSeenAt),
                Device = n.Device, TrainingSamples = n.TrainingSamples, SoftwareVersion = n.SoftwareVersion,
            });
        }

        var rounds = await db.Rounds.OrderByDescending(r => r.Id).Take(take).ToListAsync(cancellationToken);
        var ids = rounds.Select(r => r.Id).ToList();
        var updates = await db.RoundUpdates.Where(u => ids.Contains(u.RoundId)).ToListAsync(cancellationToken);
        var metrics = await db.RoundMetrics.Where(m => ids.Contains(m.RoundId)).ToListAsync(cancellationToken);
        foreach (var r in rounds)
        {
            status.Rounds.Add(Status(r, updates.Where(u => u.RoundId == r.Id).ToList(), metrics.Where(m => m.RoundId == r.Id).ToList()));
        }

        await AuditAsync(peer, context, "operator:status", new { rounds = ids.Count });
        return status;
    }

    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var peer = FederationClaims.Peer(context.GetHttpContext().User);
        await using var db = await databases.CreateDbContextAsync(context.CancellationToken);
        var response = new ListModelsResponse();
        response.Versions.AddRange((await db.ModelVersions.Include(v => v.Weights).OrderBy(v => v.Id).ToListAsync(context.CancellationToken)).Select(Info));
        await AuditAsync(peer, context, "operator:list-models", new { versions = response.Versions.Count });
        return response;
    }

    private static AggregationConfig Config(StartRoundRequest r)
    {
        static double Or(double value, double fallback) => value == 0 ? fallback : value;
        var config = r.Strategy switch
        {
            RoundStrategy.Unspecified or RoundStrategy.Fedavg => AggregationConfig.FedAvg(),
            RoundStrategy.Fedprox => AggregationConfig.FedProx(r.ProximalMu),
            RoundStrategy.Fedadam or RoundStrategy.Fedyogi => r.Strategy == RoundStrategy.Fedadam ? AggregationConfig.FedAdam() : AggregationConfig.FedYogi(),
            _ => throw Invalid($"unknown strategy {(int)r.Strategy}"),
        };
        if (config.HasServerOptimizer)
        {
            config = config with
            {
                ServerLearningRate = Or(r.ServerLearningRate, config.ServerLearningRate),
                Beta1 = Or(r.Beta1, config.Beta1),
                Beta2 = Or(r.Beta2, config.Beta2),
                Tau = Or(r.Tau, config.Tau),
            };
        }

        if (r.Strategy == RoundStrategy.Fedprox && !(r.ProximalMu > 0))
        {
            throw Invalid("FedProx needs proximal_mu > 0");
        }

        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw Invalid(e.Message);
        }

        return config;
    }

    private static RoundStatus Status(TrainingRound r, List<RoundUpdate> updates, List<RoundMetric> metrics)
    {
        var s = new RoundStatus
        {
            Round = r.Id,
            Stage = RoundNames.Stage(r.Stage),
            State = r.State,
            BaseVersion = r.BaseModelVersion,
            ResultVersion = r.ResultVersion ?? 0,
            MinNodes = r.MinNodes,
            UpdatesReceived = updates.Count(u => u.State == RoundNames.Accepted),
            UpdatesExpected = r.Participants.Count,
            DeadlineUnixMs = RoundNames.UnixMs(r.Deadline),
            FailureReason = r.FailureReason ?? "",
            Strategy = RoundNames.Strategy(r.Strategy),
            LocalSteps = r.LocalSteps,
            LearningRate = r.LearningRate,
            BatchSize = r.BatchSize,
            OpenedUnixMs = RoundNames.UnixMs(r.OpenedAt),
            ClosedUnixMs = RoundNames.UnixMs(r.ClosedAt),
            ProximalMu = r.ProximalMu,
            ServerLearningRate = r.ServerLearningRate,
        };
        foreach (var node in r.Participants.Union(updates.Select(u => u.NodeId)).Union(metrics.Select(m => m.NodeId)).Order(StringComparer.Ordinal))
        {
            var u = updates.SingleOrDefault(x => x.NodeId == node);
            var n = new NodeRoundStatus { NodeId = node, State = u?.State ?? "", Reason = u?.Reason ?? "", SampleCount = u?.SampleCount ?? 0 };
            foreach (var m in metrics.Where(m => m.NodeId == node))
            {
                n.Metrics[m.Name] = m.Value;
            }

            s.Nodes.Add(n);
        }

        return s;
    }

    private static ModelVersionInfo Info(ModelVersion v)
    {
        var info = new ModelVersionInfo
        {
            Version = v.Id, ParentVersion = v.ParentId ?? 0, Label = v.Label, FromRound = v.FromRound ?? 0,
            CreatedUnixMs = RoundNames.UnixMs(v.CreatedAt), CreatedBy = v.CreatedBy,
        };
        info.Stages.AddRange(v.Weights.OrderBy(w => RoundNames.Stage(w.Stage)).Select(w => new StageWeights { Stage = RoundNames.Stage(w.Stage), Sha256 = w.Sha256, Bytes = w.ByteCount, Tensors = w.TensorCount }));
        return info;
    }

    private static GenerateCT.Federation.Weights.WeightSet Assembled(ChunkAssembler assembler)
    {
        try
        {
            return assembler.ToWeightSet();
        }
        catch (FederationException e)
        {
            throw Invalid(e.Message);
        }
    }

    private static string StageOf(ModelStage stage)
    {
        try
        {
            return RoundNames.Stage(stage);
        }
        catch (ArgumentException e)
        {
            throw Invalid(e.Message);
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>Runs an operator action; a refusal (invalid request, unknown version) is audited with its status and reason, then answered.</summary>
    private async Task<T> AuditRefusalAsync<T>(ServerCallContext context, string action, Func<Task<T>> run)
    {
        try
        {
            return await run();
        }
        catch (RpcException e)
        {
            var peer = FederationClaims.Peer(context.GetHttpContext().User);
            await AuditAsync(peer, context, action, new { status = e.StatusCode.ToString(), reason = e.Status.Detail }, "refused");
            throw;
        }
    }

    private Task AuditAsync(FederationPeer peer, ServerCallContext context, string action, object detail, string outcome = "success")
    {
        var subject = context.GetHttpContext().Connection.ClientCertificate?.Subject;
        var json = JsonSerializer.SerializeToElement(detail);
        var full = new Dictionary<string, object?> { ["subject"] = subject, ["sha256"] = peer.Sha256 };
        foreach (var p in json.EnumerateObject())
        {
            full[p.Name] = p.Value;
        }

        return audit.AppendAsync(new AuditEntry(peer.Name, action, outcome, JsonSerializer.Serialize(full)), CancellationToken.None);
    }
}
