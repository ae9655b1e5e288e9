using System.Text.Json;
using GenerateCT.Coordinator.Rounds;
using GenerateCT.Coordinator.Security;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Coordinator;
using GenerateCT.Federation;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Coordinator.Services;

/// <summary>Rounds for nodes: announcements, the base version's download, update uploads (spooled, fsynced before acknowledged) and scalar metrics.</summary>
internal sealed partial class FederationCoordinatorService
{
    /// <summary>The only metric names a node may report: numbers about training, never about data.</summary>
    public static readonly IReadOnlySet<string> AllowedMetrics = new HashSet<string>(StringComparer.Ordinal)
    {
        "loss", "masked_token_accuracy", "psnr", "learning_rate",
    };

    private static readonly TimeSpan WatchPoll = TimeSpan.FromSeconds(2);

    /// <summary>Streams the open rounds after <c>known_round</c>, then each round started later, until the node hangs up.</summary>
    public override async Task WatchRounds(WatchRoundsRequest request, IServerStreamWriter<RoundAnnouncement> responseStream, ServerCallContext context)
    {
        await TouchAsync(context);
        long known = request.KnownRound;
        var cancellationToken = context.CancellationToken;
        while (!cancellationToken.IsCancellationRequested)
        {
            var changed = store.RoundsChanged();
            List<TrainingRound> open;
            await using (var db = await databases.CreateDbContextAsync(cancellationToken))
            {
                open = await db.Rounds.Where(r => r.Id > known && r.State == RoundNames.Open).OrderBy(r => r.Id).ToListAsync(cancellationToken);
            }

            foreach (var round in open)
            {
                await responseStream.WriteAsync(Announcement(round), cancellationToken);
                known = round.Id;
            }

            try
            {
                await changed.WaitAsync(WatchPoll, cancellationToken);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Streams one stage of a version from the position the node asks for.</summary>
    public override async Task DownloadModel(DownloadModelRequest request, IServerStreamWriter<TensorChunk> responseStream, ServerCallContext context)
    {
        var peer = await TouchAsync(context);
        var stage = StageOf(request.Stage);
        ModelWeights? weights;
        await using (var db = await databases.CreateDbContextAsync(context.CancellationToken))
        {
            weights = await db.ModelWeights.SingleOrDefaultAsync(w => w.VersionId == request.ModelVersion && w.Stage == stage, context.CancellationToken);
        }

        if (weights is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"version {request.ModelVersion} has no {stage} weights"));
        }

        try
        {
            await foreach (var chunk in ChunkWriter.ChunksAsync(store.WeightsPath(weights.Sha256), ChunkWriter.DefaultMaxChunkBytes, request.ResumeFrom, context.CancellationToken))
            {
                await responseStream.WriteAsync(chunk, context.CancellationToken);
            }
        }
        catch (ChunkSequenceException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }

        if (request.ResumeFrom is null)
        {
            await audit.AppendAsync(new AuditEntry(peer.Name, "federation:download", "success", JsonSerializer.Serialize(new { version = request.ModelVersion, stage, sha256 = weights.Sha256 })), CancellationToken.None);
        }
    }

    /// <summary>
    /// Receives an update into the round's spool for this node (fsync before the answer). Refused, with
    /// the reason in the answer: an unknown or closed round, an upload after the deadline, another base
    /// version or stage, a second update from the same node, chunks that do not fit the base's layout.
    /// </summary>
    public override async Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UpdateMessage> requestStream, ServerCallContext context)
    {
        var peer = await TouchAsync(context);
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.BodyCase != UpdateMessage.BodyOneofCase.Header)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the first message must be the update header"));
        }

        var header = requestStream.Current.Header;
        if (header.SampleCount < 1)
        {
            return await RefuseAsync(peer, header, "sample_count must be at least 1", record: false);
        }

        var (round, refusal) = await CheckRoundAsync(peer, header.Round, header.Stage, cancellationToken);
        if (refusal is not null)
        {
            return await RefuseAsync(peer, header, refusal, record: round is not null && !refusal.StartsWith("duplicate", StringComparison.Ordinal));
        }

        if (header.BaseModelVersion != round!.BaseModelVersion)
        {
            return await RefuseAsync(peer, header, $"wrong base version: round {round.Id} trains from version {round.BaseModelVersion}, not {header.BaseModelVersion}", record: true);
        }

        var layout = await LayoutAsync(round, cancellationToken);
        var path = store.SpoolPath(round.Id, peer.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var gate = store.UploadLock(round.Id, peer.Name);
        await gate.WaitAsync(cancellationToken);
        string sha;
        try
        {
            await using var spool = await UpdateSpool.OpenAsync(path, layout, cancellationToken: cancellationToken);
            var from = header.ResumeFrom ?? new TransferPosition();
            if (!from.Equals(spool.Acknowledged))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"the coordinator holds this update up to ({spool.Acknowledged.TensorIndex}, {spool.Acknowledged.Offset}): resume from there"));
            }

            await RecordAsync(round.Id, peer.Name, header.SampleCount, path, RoundNames.Receiving, null, null, cancellationToken);
            while (await requestStream.MoveNext(cancellationToken))
            {
                if (requestStream.Current.BodyCase != UpdateMessage.BodyOneofCase.Chunk)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, "only chunks may follow the header"));
                }

                try
                {
                    await spool.AddAsync(requestStream.Current.Chunk, cancellationToken);
                }
                catch (FederationException e)
                {
                    return await RefuseAsync(peer, header, $"layout mismatch: {e.Message}", record: true, acknowledged: await spool.FlushAsync(CancellationToken.None));
                }
            }

            if (!spool.Received.Equals(new TransferPosition { TensorIndex = layout.Count }))
            {
                var held = await spool.FlushAsync(cancellationToken);
                return new UploadUpdateResponse { Accepted = false, Reason = $"incomplete: the update stops at tensor {held.TensorIndex} of {layout.Count}; resume from there", Acknowledged = held };
            }

            sha = await spool.CompleteAsync(cancellationToken);
        }
        finally
        {
            gate.Release();
        }

        // The update is on disk; it counts if the round is still open and the deadline has not passed.
        await store.StateLock.WaitAsync(cancellationToken);
        try
        {
            var (_, late) = await CheckRoundAsync(peer, header.Round, header.Stage, cancellationToken);
            if (late is not null)
            {
                return await RefuseAsync(peer, header, late, record: !late.StartsWith("duplicate", StringComparison.Ordinal));
            }

            await RecordAsync(round.Id, peer.Name, header.SampleCount, path, RoundNames.Accepted, null, sha, cancellationToken);
        }
        finally
        {
            store.StateLock.Release();
        }

        await audit.AppendAsync(
            new AuditEntry(peer.Name, "federation:update", "success", JsonSerializer.Serialize(new { round = round.Id, stage = round.Stage, samples = header.SampleCount, sha256 = sha, deltaL2Norm = header.DeltaL2Norm })),
            CancellationToken.None);
        store.SignalRoundsChanged();
        return new UploadUpdateResponse { Accepted = true, TensorsReceived = layout.Count, Acknowledged = new TransferPosition { TensorIndex = layout.Count } };
    }

    /// <summary>Where this node's upload to the round stands (what is fsynced), serialized with its uploads.</summary>
    public override async Task<TransferPosition> GetUploadPosition(UploadPositionRequest request, ServerCallContext context)
    {
        var peer = await TouchAsync(context);
        TrainingRound? round;
        await using (var db = await databases.CreateDbContextAsync(context.CancellationToken))
        {
            round = await db.Rounds.SingleOrDefaultAsync(r => r.Id == request.Round, context.CancellationToken);
        }

        if (round is null || round.Stage != StageOf(request.Stage))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"no {StageOf(request.Stage)} round {request.Round}"));
        }

        var layout = await LayoutAsync(round, context.CancellationToken);
        var gate = store.UploadLock(round.Id, peer.Name);
        await gate.WaitAsync(context.CancellationToken);
        try
        {
            var path = store.SpoolPath(round.Id, peer.Name);
            if (!File.Exists(path) && !File.Exists(path + ".ack"))
            {
                return new TransferPosition();
            }

            await using var spool = await UpdateSpool.OpenAsync(path, layout, cancellationToken: context.CancellationToken);
            return spool.Acknowledged;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Keeps the scalars whose names are on <see cref="AllowedMetrics"/> (finite numbers); names the others as refused.</summary>
    public override async Task<MetricsAck> ReportMetrics(MetricsReport request, ServerCallContext context)
    {
        var peer = await TouchAsync(context);
        await using var db = await databases.CreateDbContextAsync(context.CancellationToken);
        if (!await db.Rounds.AnyAsync(r => r.Id == request.Round, context.CancellationToken))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"no round {request.Round}"));
        }

        var ack = new MetricsAck();
        var now = DateTimeOffset.UtcNow;
        foreach (var (name, value) in request.Scalars.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!AllowedMetrics.Contains(name) || !double.IsFinite(value))
            {
                ack.Refused.Add(name.Length > 64 ? name[..64] : name);
                continue;
            }

            var row = await db.RoundMetrics.SingleOrDefaultAsync(m => m.RoundId == request.Round && m.NodeId == peer.Name && m.Name == name, context.CancellationToken);
            if (row is null)
            {
                db.RoundMetrics.Add(new RoundMetric { RoundId = request.Round, NodeId = peer.Name, Name = name, Value = value, ReportedAt = now });
            }
            else
            {
                row.Value = value;
                row.ReportedAt = now;
            }

            ack.Accepted.Add(name);
        }

        await db.SaveChangesAsync(context.CancellationToken);
        if (ack.Refused.Count > 0)
        {
            ack.Reason = $"only these scalar metrics are kept: {string.Join(", ", AllowedMetrics.Order(StringComparer.Ordinal))} (finite numbers)";
        }

        await audit.AppendAsync(
            new AuditEntry(peer.Name, "federation:metrics", ack.Refused.Count == 0 ? "success" : "partial", JsonSerializer.Serialize(new { round = request.Round, accepted = ack.Accepted, refused = ack.Refused })),
            CancellationToken.None);
        return ack;
    }

    private static string StageOf(ModelStage stage)
    {
        try
        {
            return RoundNames.Stage(stage);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
    }

    private static RoundAnnouncement Announcement(TrainingRound round)
    {
        var a = new RoundAnnouncement
        {
            Round = round.Id,
            Stage = RoundNames.Stage(round.Stage),
            BaseModelVersion = round.BaseModelVersion,
            LocalSteps = round.LocalSteps,
            LearningRate = round.LearningRate,
            BatchSize = round.BatchSize,
            DeadlineUnixMs = round.Deadline.ToUnixTimeMilliseconds(),
            Strategy = RoundNames.Strategy(round.Strategy),
            ProximalMu = round.ProximalMu,
            MinNodes = round.MinNodes,
        };
        a.Participants.AddRange(round.Participants);
        return a;
    }

    /// <summary>The round, or why this node's update to it is refused (unknown, other stage, closed, late, duplicate).</summary>
    private async Task<(TrainingRound? Round, string? Refusal)> CheckRoundAsync(FederationPeer peer, long id, ModelStage stage, CancellationToken cancellationToken)
    {
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var round = await db.Rounds.SingleOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (round is null)
        {
            return (null, $"unknown round {id}");
        }

        if (stage != RoundNames.Stage(round.Stage))
        {
            return (round, $"round {id} trains {round.Stage}, not {stage}");
        }

        if (DateTimeOffset.UtcNow >= round.Deadline)
        {
            return (round, $"late: round {id}'s deadline passed at {round.Deadline:O} (the round is {round.State})");
        }

        if (round.State != RoundNames.Open)
        {
            return (round, $"round {id} is closed ({round.State})");
        }

        if (await db.RoundUpdates.AnyAsync(u => u.RoundId == id && u.NodeId == peer.Name && u.State == RoundNames.Accepted, cancellationToken))
        {
            return (round, $"duplicate: round {id} already has this node's update");
        }

        return (round, null);
    }

    private async Task<WeightLayout> LayoutAsync(TrainingRound round, CancellationToken cancellationToken)
    {
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var weights = await db.ModelWeights.SingleAsync(w => w.VersionId == round.BaseModelVersion && w.Stage == round.Stage, cancellationToken);
        return WeightFile.ReadLayout(store.WeightsPath(weights.Sha256));
    }

    private async Task<UploadUpdateResponse> RefuseAsync(FederationPeer peer, UpdateHeader header, string reason, bool record, TransferPosition? acknowledged = null)
    {
        if (record)
        {
            await RecordAsync(header.Round, peer.Name, header.SampleCount, store.SpoolPath(header.Round, peer.Name), RoundNames.Refused, reason, null, CancellationToken.None);
        }

        await audit.AppendAsync(
            new AuditEntry(peer.Name, "federation:update", "refused", JsonSerializer.Serialize(new { round = header.Round, stage = header.Stage.ToString(), baseVersion = header.BaseModelVersion, samples = header.SampleCount, reason })),
            CancellationToken.None);
        store.SignalRoundsChanged();
        return new UploadUpdateResponse { Accepted = false, Reason = reason, Acknowledged = acknowledged ?? new TransferPosition() };
    }

    /// <summary>Inserts or updates the node's receipt for the round (an accepted receipt is never replaced).</summary>
    private async Task RecordAsync(long round, string node, long samples, string path, string state, string? reason, string? sha, CancellationToken cancellationToken)
    {
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        var row = await db.RoundUpdates.SingleOrDefaultAsync(u => u.RoundId == round && u.NodeId == node, cancellationToken);
        if (row is null)
        {
            row = new RoundUpdate { RoundId = round, NodeId = node, ReceivedAt = now };
            db.RoundUpdates.Add(row);
        }
        else if (row.State == RoundNames.Accepted)
        {
            return;
        }

        row.SampleCount = samples;
        row.SpoolPath = path;
        row.State = state;
        row.Reason = reason is { Length: > 512 } ? reason[..512] : reason;
        row.UpdateSha256 = sha;
        row.UpdatedAt = now;
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>The calling node, its last contact recorded.</summary>
    private async Task<FederationPeer> TouchAsync(ServerCallContext context)
    {
        var peer = FederationClaims.Peer(context.GetHttpContext().User);
        await using var db = await databases.CreateDbContextAsync(context.CancellationToken);
        await db.Nodes.Where(n => n.NodeId == peer.Name).ExecuteUpdateAsync(s => s.SetProperty(n => n.LastSeenAt, DateTimeOffset.UtcNow), context.CancellationToken);
        return peer;
    }

    private async Task<long> CurrentVersionAsync(CancellationToken cancellationToken)
    {
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        return await db.ModelVersions.MaxAsync(v => (long?)v.Id, cancellationToken) ?? 0;
    }
}
