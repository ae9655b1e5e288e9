using System.Globalization;
using System.Text.Json;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.Weights;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Text;
using GenerateCT.Node;
using GenerateCT.Node.Federation;
using Microsoft.EntityFrameworkCore;
using Spectre.Console;
using GenerateCT.Federation.V1;
using WireStage = GenerateCT.Federation.V1.ModelStage;

namespace GenerateCT.Cli.Hosts;

/// <summary>
/// The federation half of the demo: a federation CA with kits for the coordinator, each node and an
/// operator (the `gct pki` library), the DataSteward's MaskGIT approval on each node, a tiny bundle
/// registered as the base global version, and one MaskGIT round of a few local steps with k = all nodes,
/// shown as the operator's tables (nodes, round progress, per-node metrics, versions).
/// </summary>
internal static class DemoFederation
{
    public const string Federation = "demo-federation";
    public const string Operator = "demo-operator";
    public const string Steward = "demo-steward";

    /// <summary>What the node writes when a steward approves a stage (StageApprovals.AuditAction on the node).</summary>
    private const string ApprovalAction = "training:stage-approval";

    /// <summary>What the node's federation client audits for each round it is announced (FederationClient.RoundAction).</summary>
    private const string RoundAction = "federation:round";

    public sealed record Pki(string CoordinatorKit, IReadOnlyDictionary<string, string> NodeKits, string OperatorKit);

    public sealed record Outcome(RoundStatus Round, ModelVersionInfo? Result);

    /// <summary>A CA under <paramref name="root"/>/pki and kits: coordinator (localhost), one per node, one operator.</summary>
    public static Pki CreatePki(string root, IReadOnlyList<string> nodes)
    {
        var ca = FederationCa.Initialize(Path.Combine(root, "pki"), Federation);
        var coordinator = ca.Issue(SiteRole.Coordinator, "localhost");
        var kits = nodes.ToDictionary(n => n, n => ca.Issue(SiteRole.Node, n).Kit);
        var ops = ca.Issue(SiteRole.Operator, Operator);
        var table = new Table().Title($"Federation CA '{Federation}' ({Markup.Escape(ca.Directory)})").AddColumns("site", "role", "certificate SHA-256", "kit");
        foreach (var c in ca.Issued)
        {
            table.AddRow(Markup.Escape(c.Name), c.Role.Name(), c.Sha256[..16] + "…", Markup.Escape(c.Kit));
        }

        AnsiConsole.Write(table);
        return new Pki(coordinator.Kit, kits, ops.Kit);
    }

    /// <summary>
    /// The DataSteward approves federated training of MaskGIT on the node: the approval row the federation client
    /// reads before joining a round, and its audit record, as the node's ApproveStage writes them. (The demo has no
    /// identity provider to issue a DataSteward token for the Admin API; it acts in the hospital's own process.)
    /// </summary>
    public static async Task ApproveMaskGitAsync(NodeHost node, CancellationToken ct)
    {
        await using (var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString))
        {
            var row = await db.StageApprovals.SingleOrDefaultAsync(a => a.Stage == "maskgit", ct);
            var previous = row?.Approved ?? false;
            if (row is null)
            {
                db.StageApprovals.Add(row = new GenerateCT.Data.Node.StageApproval { Stage = "maskgit" });
            }

            row.Approved = true;
            row.ChangedBy = Steward;
            row.ChangedAt = DateTimeOffset.UtcNow;
            await db.SaveChangesAsync(ct);
            await new AuditTrail(node.DatabaseConnectionString).AppendAsync(
                new AuditEntry(Steward, ApprovalAction, "success", JsonSerializer.Serialize(new { stage = "maskgit", approved = true, previous })), ct);
        }
    }

    /// <summary>Trains the tiny bundle (one step per stage on two small phantoms) the round starts from.</summary>
    public static async Task<string> TrainBaseBundleAsync(string root, CancellationToken ct)
    {
        var bundle = Path.Combine(root, "base-bundle");
        await AnsiConsole.Status().StartAsync("Training the tiny base bundle (1 step per stage)…", async _ =>
        {
            var cases = Enumerable.Range(0, 2)
                .Select(seed => ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 900 + seed, Slices = 9, Size = 64 }))
                .Select(p => new TrainingCase(p.Volume, p.Prompt))
                .ToList();
            await Task.Run(
                () => BundleTrainer.TrainAsync(
                    GenerationConfig.Tiny,
                    cases,
                    TinyTokenizer.ModelPath,
                    bundle,
                    new TrainAllOptions { CtVitSteps = 1, MaskGitSteps = 1, SuperResSteps = 1, BatchSize = 2, Seed = 3 },
                    TorchSharp.torch.CPU,
                    cancellationToken: ct),
                ct);
        });
        return bundle;
    }

    /// <summary>
    /// Registers the bundle's MaskGIT as the base version, waits for every node to enrol, starts one round with
    /// k = all nodes and waits until it completes or fails (at the latest <paramref name="deadline"/> plus a margin).
    /// </summary>
    public static async Task<Outcome> RunRoundAsync(Pki pki, Uri coordinator, string bundle, int nodes, int localSteps, TimeSpan deadline, CancellationToken ct)
    {
        using var kit = StartupKit.Load(pki.OperatorKit);
        using var channel = kit.CreateCoordinatorChannel(coordinator);
        var ops = new GenerateCT.Federation.Operator.V1.Operator.OperatorClient(channel);

        var weights = BundleWeights.ReadStage(bundle, GenerateCT.Model.Training.ModelStage.MaskGit);
        var baseVersion = await RegisterAsync(ops, weights, ct);
        AnsiConsole.MarkupLineInterpolated($"Base global version [bold]{baseVersion.Version}[/]: maskgit {weights.Count} tensors, sha256 {baseVersion.Stages.Single().Sha256[..16]}…");

        FederationStatus status = new();
        await AnsiConsole.Status().StartAsync($"Waiting for {nodes} nodes to enrol over mutual TLS…", async _ =>
        {
            var until = DateTime.UtcNow.AddMinutes(1);
            while ((status = await ops.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)).Nodes.Count < nodes)
            {
                if (DateTime.UtcNow > until)
                {
                    throw new TimeoutException($"{status.Nodes.Count} of {nodes} nodes enrolled within a minute");
                }

                await Task.Delay(250, ct);
            }
        });

        var started = await ops.StartRoundAsync(
            new StartRoundRequest
            {
                Stage = WireStage.Maskgit,
                LocalSteps = localSteps,
                MinNodes = nodes,
                DeadlineSeconds = (long)deadline.TotalSeconds,
                LearningRate = 1e-4,
                BatchSize = 1,
                BaseVersion = baseVersion.Version,
                Strategy = RoundStrategy.Fedavg,
            },
            cancellationToken: ct);
        AnsiConsole.MarkupLineInterpolated($"Round [bold]{started.Round}[/] open: maskgit from version {started.BaseVersion}, fedavg, {localSteps} local steps, k={started.MinNodes} of {started.UpdatesExpected}, deadline {deadline.TotalSeconds:0} s");

        RoundStatus round = started;
        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask($"Round {started.Round}: updates from the nodes", maxValue: Math.Max(1, started.UpdatesExpected));
                var until = DateTime.UtcNow + deadline + TimeSpan.FromSeconds(30);
                while (true)
                {
                    round = (await ops.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct)).Rounds.Single(r => r.Round == started.Round);
                    bar.Value = round.UpdatesReceived;
                    if (round.State is "completed" or "failed" || DateTime.UtcNow > until)
                    {
                        break;
                    }

                    await Task.Delay(500, ct);
                }
            });

        status = await ops.GetStatusAsync(new GetStatusRequest(), cancellationToken: ct);
        ShowStatus(status);
        var models = await ops.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct);
        ShowVersions(models);
        var result = round.ResultVersion == 0 ? null : models.Versions.SingleOrDefault(v => v.Version == round.ResultVersion);
        AnsiConsole.MarkupLineInterpolated(
            $"Round {round.Round}: [bold]{round.State}[/] ({round.UpdatesReceived}/{round.UpdatesExpected} updates, k={round.MinNodes}){(result is null ? "" : $" → global version {result.Version}")}{(round.FailureReason.Length == 0 ? "" : $" — {round.FailureReason}")}");
        return new Outcome(round, result);
    }

    /// <summary>Each node's own account of the round: its audited federation:round records (outcome and reason).</summary>
    public static async Task ShowNodeAccountsAsync(IReadOnlyList<(string Name, NodeHost Host)> nodes, DateTimeOffset since, CancellationToken ct)
    {
        AnsiConsole.MarkupLine("The nodes' audit trails on the round:");
        foreach (var (name, host) in nodes)
        {
            await foreach (var r in new AuditTrail(host.DatabaseConnectionString).ReadAsync(since, ct))
            {
                if (r.Action != RoundAction)
                {
                    continue;
                }

                using var detail = JsonDocument.Parse(r.Detail ?? "{}");
                var round = detail.RootElement.TryGetProperty("round", out var n) ? n.ToString() : "?";
                var reason = detail.RootElement.TryGetProperty("reason", out var why) ? why.GetString() : null;
                AnsiConsole.MarkupLineInterpolated($"{name} · round {round}: [bold]{r.Outcome}[/]");
                if (!string.IsNullOrEmpty(reason))
                {
                    AnsiConsole.MarkupLineInterpolated($"  {reason}");
                }
            }
        }
    }

    private static async Task<ModelVersionInfo> RegisterAsync(GenerateCT.Federation.Operator.V1.Operator.OperatorClient ops, WeightSet weights, CancellationToken ct)
    {
        using var call = ops.RegisterModel(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new RegisterModelMessage { Header = new RegisterModelHeader { Label = "demo tiny base" } }, ct);
        await call.RequestStream.WriteAsync(new RegisterModelMessage { Stage = WireStage.Maskgit }, ct);
        foreach (var chunk in ChunkWriter.Chunks(weights))
        {
            await call.RequestStream.WriteAsync(new RegisterModelMessage { Chunk = chunk }, ct);
        }

        await call.RequestStream.CompleteAsync();
        return await call;
    }

    private static void ShowStatus(FederationStatus status)
    {
        var nodes = new Table().Title("Federation nodes (coordinator's view)").AddColumns("node", "device", "samples", "software");
        foreach (var n in status.Nodes)
        {
            nodes.AddRow(Markup.Escape(n.NodeId), Markup.Escape(n.Device), n.TrainingSamples.ToString(CultureInfo.InvariantCulture), Markup.Escape(n.SoftwareVersion));
        }

        AnsiConsole.Write(nodes);
        var rounds = new Table().Title("Rounds").AddColumns("round", "state", "updates", "base → result", "note");
        var perNode = new Table().Title("Per-node updates and scalar metrics").AddColumns("round", "node", "update", "samples", "metrics");
        foreach (var r in status.Rounds)
        {
            rounds.AddRow(
                r.Round.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.State), $"{r.UpdatesReceived}/{r.UpdatesExpected} (k={r.MinNodes})",
                $"{r.BaseVersion} → {(r.ResultVersion == 0 ? "-" : r.ResultVersion.ToString(CultureInfo.InvariantCulture))}", Markup.Escape(r.FailureReason));
            foreach (var n in r.Nodes)
            {
                var metrics = string.Join(" ", n.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key}={m.Value:0.####}")));
                var state = n.State.Length == 0 ? "-" : n.Reason.Length == 0 ? n.State : $"{n.State}: {n.Reason}";
                perNode.AddRow(r.Round.ToString(CultureInfo.InvariantCulture), Markup.Escape(n.NodeId), Markup.Escape(state), n.SampleCount.ToString(CultureInfo.InvariantCulture), Markup.Escape(metrics));
            }
        }

        AnsiConsole.Write(rounds);
        AnsiConsole.Write(perNode);
    }

    private static void ShowVersions(ListModelsResponse models)
    {
        var table = new Table().Title("Global model versions").AddColumns("version", "parent", "label", "from", "stage", "sha256", "MB");
        foreach (var v in models.Versions)
        {
            foreach (var s in v.Stages)
            {
                table.AddRow(
                    v.Version.ToString(CultureInfo.InvariantCulture), v.ParentVersion == 0 ? "-" : v.ParentVersion.ToString(CultureInfo.InvariantCulture), Markup.Escape(v.Label),
                    v.FromRound == 0 ? Markup.Escape(v.CreatedBy) : $"round {v.FromRound}", s.Stage.ToString().ToLowerInvariant(), s.Sha256[..16] + "…",
                    (s.Bytes / 1e6).ToString("0.###", CultureInfo.InvariantCulture));
            }
        }

        AnsiConsole.Write(table);
    }
}
