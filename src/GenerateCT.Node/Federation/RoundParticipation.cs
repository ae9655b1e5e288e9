using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Federation;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Model.Pipeline;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Training;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using CoordinatorClient = GenerateCT.Federation.V1.Coordinator.CoordinatorClient;
using ModelStage = GenerateCT.Model.Training.ModelStage;
using WireStage = GenerateCT.Federation.V1.ModelStage;

namespace GenerateCT.Node.Federation;

/// <summary>A step of a round that cannot go on; the round's participation fails with this reason.</summary>
internal sealed class RoundParticipationException(string message) : Exception(message);

/// <summary>
/// One approved round on this node: the base version's stage weights are downloaded (resumed after a dropped
/// stream), materialized as a bundle derived from the node's bundle, trained for the round's local steps as a
/// training job of origin "federated" (queued to <see cref="TrainingWorker"/>, so progress, checkpoints and resume
/// are a local job's), and the delta (result − base) is uploaded (resumed from the coordinator's acknowledged
/// position) with its allow-listed metrics. FedProx's proximal term is not applied: the stage trainers have none,
/// so the node runs plain local steps and says so in the job's audit record.
/// </summary>
internal sealed class RoundParticipation(
    TrainingJobStore jobs,
    TrainingWorker worker,
    TrainingFiles files,
    GlobalVersions globalVersions,
    IOptions<GenerationOptions> generationOptions,
    INodeAudit audit,
    ILogger<RoundParticipation> log)
{
    public const string DownloadAction = "federation:download";
    public const string UploadAction = "federation:upload";

    private const int Attempts = 5;

    /// <summary>Chunk size of uploads (tests make it small to exercise many chunks).</summary>
    internal int MaxChunkBytes { get; set; } = ChunkWriter.DefaultMaxChunkBytes;

    /// <summary>Runs the round; returns a short summary for the round's audit record. Throws <see cref="RoundParticipationException"/> with the reason.</summary>
    public async Task<string> RunAsync(CoordinatorClient coordinator, RoundAnnouncement round, ModelStage stage, long sampleCount, CancellationToken ct)
    {
        var generation = generationOptions.Value;
        if (!generation.IsConfigured)
        {
            throw new RoundParticipationException(GenerationModels.NotConfigured().Message);
        }

        var roundKey = $"{round.Round}-{stage.Name}";
        var baseBundle = files.RoundBaseBundle(roundKey);
        var baseWeights = await DownloadAsync(coordinator, round.BaseModelVersion, stage, BundleWeights.ReadStage(generation.Bundle!, stage).Layout, ct);
        await audit.RecordAsync("system", DownloadAction, "success", JsonSerializer.Serialize(new { round = round.Round, stage = stage.Name, version = round.BaseModelVersion, bytes = baseWeights.ByteCount, weights = baseWeights.ComputeVersionId() }), ct);
        if (Directory.Exists(baseBundle))
        {
            Directory.Delete(baseBundle, recursive: true);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(baseBundle)!);
        try
        {
            await Task.Run(() => BundleWeights.WriteDerivedBundle(generation.Bundle!, stage, baseWeights, baseBundle, $"federation round {round.Round} base version {round.BaseModelVersion} ({stage.Name})"), ct);
        }
        catch (Exception e) when (e is ArgumentException or FederationException or ModelBundleException)
        {
            throw new RoundParticipationException($"the base version does not fit this node's bundle: {e.Message}");
        }

        // A round on a base this node has not installed announces a newer published version: it is installed too (ListModels lists it).
        if (!globalVersions.List().Any(v => v.Number == round.BaseModelVersion))
        {
            await globalVersions.InstallAsync((int)round.BaseModelVersion, stage, baseWeights, DateTimeOffset.UtcNow, ct);
        }

        var job = new TrainingJob
        {
            Id = Guid.NewGuid(),
            Origin = TrainingOrigins.Federated,
            RoundKey = roundKey,
            Stage = stage.Name,
            State = JobStates.Queued,
            RequestedBy = "federation",
            BaseModel = GenerationModels.VersionOf(ModelBundle.ReadManifest(baseBundle)),
            Steps = Math.Max(1, round.LocalSteps),
            LearningRate = round.LearningRate,
            BatchSize = Math.Max(1, round.BatchSize),
            Seed = round.Round,
            CheckpointEvery = Math.Max(1, round.LocalSteps),
            CreatedAt = DateTimeOffset.UtcNow,
        };
        await jobs.CreateAsync(job, ct);
        await audit.RecordAsync(
            "system",
            "federation:local-steps",
            "success",
            JsonSerializer.Serialize(new
            {
                round = round.Round,
                job = job.Id.ToString("N"),
                stage = stage.Name,
                steps = job.Steps,
                learningRate = job.LearningRate,
                batchSize = job.BatchSize,
                strategy = round.Strategy.ToString(),
                note = round.Strategy == RoundStrategy.Fedprox ? $"proximal_mu {round.ProximalMu} not applied: the stage trainers have no proximal term; plain local steps" : null,
            }),
            ct);
        worker.Wake();
        var finished = await WaitAsync(job.Id, ct);
        if (finished.State != JobStates.Succeeded)
        {
            throw new RoundParticipationException($"the local training job {job.Id:N} failed: {finished.Error}");
        }

        var delta = await Task.Run(() => RoundUpdate.Delta(baseBundle, stage, Path.Combine(files.DataDirectory, finished.ResultPath!)), ct);
        var norm = Math.Sqrt(delta.Sum(t => t.Data.Sum(v => (double)v * v)));
        var samples = Math.Max(1, finished.SampleCount ?? 0);
        await UploadAsync(coordinator, round, delta, samples, norm, ct);
        await audit.RecordAsync("system", UploadAction, "success", JsonSerializer.Serialize(new { round = round.Round, stage = stage.Name, version = round.BaseModelVersion, bytes = delta.ByteCount, samples, deltaL2Norm = norm }), ct);

        var metrics = finished.Metrics is null ? [] : JsonSerializer.Deserialize<Dictionary<string, double>>(finished.Metrics) ?? [];
        var (reported, dropped) = RoundMetrics.Select(metrics);
        var report = new MetricsReport { Round = round.Round, Stage = round.Stage, SampleCount = samples };
        report.Scalars.Add(reported);
        var ack = await coordinator.ReportMetricsAsync(report, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        Directory.Delete(Path.GetDirectoryName(baseBundle)!, recursive: true);
        return $"job {job.Id:N}: {job.Steps} local steps on {samples} samples, delta L2 norm {norm:G6} uploaded; metrics kept [{string.Join(", ", ack.Accepted)}], not sent [{string.Join(", ", dropped)}]";
    }

    /// <summary>Downloads one stage of a version, resuming from what has arrived after a dropped stream.</summary>
    public static async Task<WeightSet> DownloadAsync(CoordinatorClient coordinator, long version, ModelStage stage, WeightLayout? expected, CancellationToken ct)
    {
        var assembler = new ChunkAssembler(expected);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var request = new DownloadModelRequest { ModelVersion = version, Stage = WireOf(stage) };
                if (attempt > 1)
                {
                    request.ResumeFrom = assembler.Position;
                }

                using var call = coordinator.DownloadModel(request, cancellationToken: ct);
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(ct))
                {
                    try
                    {
                        assembler.Add(chunk);
                    }
                    catch (FederationException e)
                    {
                        throw new RoundParticipationException($"version {version}'s {stage.Name} weights do not fit this node's bundle: {e.Message}");
                    }
                }

                try
                {
                    return assembler.ToWeightSet();
                }
                catch (FederationException e)
                {
                    throw new RoundParticipationException($"version {version}'s {stage.Name} weights do not fit this node's bundle: {e.Message}");
                }
            }
            catch (RpcException e) when (attempt < Attempts && e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
            }
            catch (RpcException e)
            {
                throw new RoundParticipationException($"download of version {version} ({stage.Name}) failed: {e.StatusCode} {e.Status.Detail}");
            }
        }
    }

    private async Task UploadAsync(CoordinatorClient coordinator, RoundAnnouncement round, WeightSet delta, long samples, double norm, CancellationToken ct)
    {
        TransferPosition? from = null;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (attempt > 1)
                {
                    from = await coordinator.GetUploadPositionAsync(new UploadPositionRequest { Round = round.Round, Stage = round.Stage }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
                }

                using var call = coordinator.UploadUpdate(cancellationToken: ct);
                var header = new UpdateHeader { Round = round.Round, Stage = round.Stage, BaseModelVersion = round.BaseModelVersion, SampleCount = samples, DeltaL2Norm = norm };
                if (from is not null && !from.Equals(new TransferPosition()))
                {
                    header.ResumeFrom = from;
                }

                await call.RequestStream.WriteAsync(new UpdateMessage { Header = header }, ct);
                foreach (var chunk in ChunkWriter.Chunks(delta, MaxChunkBytes, from))
                {
                    await call.RequestStream.WriteAsync(new UpdateMessage { Chunk = chunk }, ct);
                }

                await call.RequestStream.CompleteAsync();
                var reply = await call;
                if (!reply.Accepted)
                {
                    throw new RoundParticipationException($"the coordinator refused the update: {reply.Reason}");
                }

                return;
            }
            catch (RpcException e) when (attempt < Attempts && e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded)
            {
                log.LogWarning("round {Round}: upload interrupted ({Status}); resuming", round.Round, e.StatusCode);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
            }
            catch (RpcException e)
            {
                throw new RoundParticipationException($"upload of the update failed: {e.StatusCode} {e.Status.Detail}");
            }
        }
    }

    private async Task<TrainingJob> WaitAsync(Guid id, CancellationToken ct)
    {
        while (true)
        {
            var job = await jobs.FindAsync(id, ct) ?? throw new RoundParticipationException($"the local training job {id:N} disappeared");
            if (job.State is JobStates.Succeeded or JobStates.Failed)
            {
                return job;
            }

            await Task.Delay(200, ct);
        }
    }

    /// <summary>Installs version <paramref name="version"/> (its <paramref name="stage"/> weights) as a global version unless it is installed.</summary>
    public async Task<GlobalVersion?> InstallAsync(CoordinatorClient coordinator, long version, ModelStage stage, CancellationToken ct)
    {
        if (globalVersions.List().FirstOrDefault(v => v.Number == version) is { } installed)
        {
            return installed;
        }

        var generation = generationOptions.Value;
        if (!generation.IsConfigured)
        {
            return null;
        }

        var weights = await DownloadAsync(coordinator, version, stage, BundleWeights.ReadStage(generation.Bundle!, stage).Layout, ct);
        await audit.RecordAsync("system", DownloadAction, "success", JsonSerializer.Serialize(new { stage = stage.Name, version, bytes = weights.ByteCount, weights = weights.ComputeVersionId() }), ct);
        return await globalVersions.InstallAsync((int)version, stage, weights, DateTimeOffset.UtcNow, ct);
    }

    internal static WireStage WireOf(ModelStage stage) =>
        stage == ModelStage.CtVit ? WireStage.Ctvit : stage == ModelStage.MaskGit ? WireStage.Maskgit : WireStage.Superres;
}
