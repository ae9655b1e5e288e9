using System.Reflection;
using System.Text.Json;
using GenerateCT.Federation;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.V1;
using GenerateCT.Model;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Training;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using CoordinatorClient = GenerateCT.Federation.V1.Coordinator.CoordinatorClient;
using ModelStage = GenerateCT.Model.Training.ModelStage;
using WireStage = GenerateCT.Federation.V1.ModelStage;

namespace GenerateCT.Node.Federation;

/// <summary>
/// The node's side of a federation, on when Node:Federation:Kit is set: it enrols with the coordinator over
/// mutual TLS (software version, device and an integer sample count only), then watches round announcements.
/// A coordinator that is down or drops the stream is retried with doubling backoff; it never stops the node.
/// A round of a stage the DataSteward has not approved (or has withdrawn) is not joined; each round is handled
/// on its own, so one round's failure is audited and the client goes on to the next.
/// </summary>
internal sealed class FederationClient(
    IOptions<FederationOptions> federationOptions,
    IOptions<GenerationOptions> generationOptions,
    TrainingSetReader trainingSet,
    StageApprovals approvals,
    RoundParticipation participation,
    INodeAudit audit,
    IEnumerable<CoordinatorInterceptor> interceptors,
    ILogger<FederationClient> log) : BackgroundService
{
    public const string ConnectAction = "federation:connect";
    public const string EnrolAction = "federation:enrol";
    public const string RoundAction = "federation:round";

    private readonly FederationOptions _options = federationOptions.Value;

    /// <summary>The coordinator's name for this node once enrolled (null before).</summary>
    public string? NodeId { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.IsConfigured)
        {
            return;
        }

        using var kit = StartupKit.Load(_options.Kit!);
        using var channel = kit.CreateCoordinatorChannel(_options.CoordinatorAddress);
        var coordinator = new CoordinatorClient(channel.Intercept([.. interceptors]));
        var backoff = TimeSpan.FromSeconds(_options.ReconnectSeconds);
        var connected = true; // so that the first failure is audited
        long knownRound = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await EnrolAsync(coordinator, stoppingToken);
                connected = true;
                backoff = TimeSpan.FromSeconds(_options.ReconnectSeconds);
                using var watch = coordinator.WatchRounds(new WatchRoundsRequest { KnownRound = knownRound }, cancellationToken: stoppingToken);
                await foreach (var round in watch.ResponseStream.ReadAllAsync(stoppingToken))
                {
                    knownRound = Math.Max(knownRound, round.Round);
                    await TakePartAsync(coordinator, round, stoppingToken);
                }

                log.LogInformation("the coordinator ended the round stream; reconnecting");
            }
            catch (Exception e) when (stoppingToken.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
            {
                return; // the node is stopping: a call cancelled by it is not an outage
            }
            catch (RpcException e)
            {
                // Audited once per outage (not per retry), logged every time.
                log.LogWarning("federation coordinator {Address}: {Status} {Detail}; retrying in {Seconds} s", _options.CoordinatorAddress ?? kit.CoordinatorAddress, e.StatusCode, e.Status.Detail, backoff.TotalSeconds);
                if (connected)
                {
                    connected = false;
                    await audit.RecordAsync("system", ConnectAction, "failure", JsonSerializer.Serialize(new { coordinator = (_options.CoordinatorAddress ?? kit.CoordinatorAddress).ToString(), status = e.StatusCode.ToString(), detail = e.Status.Detail }), CancellationToken.None);
                }

                try
                {
                    await Task.Delay(backoff, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromSeconds(Math.Min(backoff.TotalSeconds * 2, _options.MaxReconnectSeconds));
            }
        }
    }

    /// <param name="quietUnlessNewerThan">For a poll for a newer version (at least 0): the enrolment is audited and logged only when the coordinator's version is newer.</param> for a newer version: audited and logged only when it finds one.</param>
    private async Task<EnrolResponse> EnrolAsync(CoordinatorClient coordinator, CancellationToken ct, long quietUnlessNewerThan = -1)
    {
        var summary = await trainingSet.SummarizeAsync(ct);
        var request = new EnrolRequest
        {
            NodeSoftwareVersion = typeof(FederationClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
            Device = TorchDevice.Describe(TorchDevice.Select(generationOptions.Value.Device)),
            TrainingSamples = summary.Volumes,
        };
        var reply = await coordinator.EnrolAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        NodeId = reply.NodeId;
        if (quietUnlessNewerThan >= 0 && reply.CurrentModelVersion <= quietUnlessNewerThan)
        {
            return reply;
        }

        await audit.RecordAsync(
            "system",
            EnrolAction,
            "success",
            JsonSerializer.Serialize(new { node = reply.NodeId, federation = reply.FederationId, model_version = reply.CurrentModelVersion, device = request.Device, samples = request.TrainingSamples }),
            ct);
        log.LogInformation("enrolled in federation {Federation} as {Node}", reply.FederationId, reply.NodeId);
        return reply;
    }

    /// <summary>One round: joined only for an approved stage; its failure is audited and does not end the client.</summary>
    private async Task TakePartAsync(CoordinatorClient coordinator, RoundAnnouncement round, CancellationToken ct)
    {
        var stage = StageOf(round.Stage);
        if (stage is null)
        {
            await RecordRoundAsync(round, "failure", $"the coordinator announced an unknown stage {round.Stage}", ct);
            return;
        }

        if (!await approvals.IsApprovedAsync(stage, ct))
        {
            log.LogInformation("round {Round} ({Stage}) not joined: the DataSteward has not approved federated training of this stage", round.Round, stage.Name);
            await RecordRoundAsync(round, "skipped", "the DataSteward has not approved federated training of this stage", ct);
            return;
        }

        string summary;
        try
        {
            var samples = (await trainingSet.SummarizeAsync(ct)).SamplesFor(stage);
            summary = await participation.RunAsync(coordinator, round, stage, samples, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // Any step's failure ends this round's participation only: audited with its reason, and the client goes on.
            log.LogWarning(e, "round {Round} ({Stage}): participation failed", round.Round, stage.Name);
            await RecordRoundAsync(round, "failure", e is RoundParticipationException ? e.Message : $"{e.GetType().Name}: {e.Message}", ct);
            return;
        }

        await RecordRoundAsync(round, "success", summary, ct);
        await InstallNewerVersionAsync(coordinator, round, stage, ct);
    }

    /// <summary>
    /// After a round this node joined: the node rpcs name a finished round's result only through Enrol's
    /// current_model_version, so the client enrols again until it is newer than the round's base (until the
    /// round's deadline), then downloads and installs it as a global version (ListModels lists it; Admin activates it).
    /// </summary>
    private async Task InstallNewerVersionAsync(CoordinatorClient coordinator, RoundAnnouncement round, ModelStage stage, CancellationToken ct)
    {
        var until = round.DeadlineUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(round.DeadlineUnixMs).AddSeconds(30) : DateTimeOffset.UtcNow.AddMinutes(5);
        try
        {
            while (DateTimeOffset.UtcNow < until)
            {
                var reply = await EnrolAsync(coordinator, ct, quietUnlessNewerThan: round.BaseModelVersion);
                if (reply.CurrentModelVersion > round.BaseModelVersion)
                {
                    await participation.InstallAsync(coordinator, reply.CurrentModelVersion, stage, ct);
                    return;
                }

                await Task.Delay(TimeSpan.FromSeconds(_options.ReconnectSeconds), ct);
            }
        }
        catch (Exception e) when (e is RoundParticipationException or FederationException or ArgumentException or IOException)
        {
            await audit.RecordAsync("system", GlobalVersions.InstallAction, "failure", JsonSerializer.Serialize(new { round = round.Round, stage = stage.Name, reason = e.Message }), ct);
        }
    }

    private Task RecordRoundAsync(RoundAnnouncement round, string outcome, string reason, CancellationToken ct) =>
        audit.RecordAsync("system", RoundAction, outcome, JsonSerializer.Serialize(new { round = round.Round, stage = StageOf(round.Stage)?.Name, base_version = round.BaseModelVersion, reason }), ct);

    private static ModelStage? StageOf(WireStage stage) => stage switch
    {
        WireStage.Ctvit => ModelStage.CtVit,
        WireStage.Maskgit => ModelStage.MaskGit,
        WireStage.Superres => ModelStage.SuperRes,
        _ => null,
    };
}
