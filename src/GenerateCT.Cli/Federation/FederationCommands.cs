using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using GenerateCT.Federation;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Node.Federation;
using Grpc.Core;
using Spectre.Console;

namespace GenerateCT.Cli.Federation;

/// <summary>
/// `gct federation models [register]|rounds start|status`: the federation operator's verbs, run with an
/// operator startup kit (<c>gct pki issue --operator NAME</c>) against the coordinator over mutual TLS.
/// Every call is audited by the coordinator under the operator's certificate.
/// </summary>
internal static partial class FederationCommands
{
    public static Command Create()
    {
        var cmd = new Command("federation", "Operate the federation: register global model versions, start training rounds, see nodes and rounds.");
        cmd.Subcommands.Add(Models());
        cmd.Subcommands.Add(Rounds());
        cmd.Subcommands.Add(Status());
        return cmd;
    }

    private static Option<DirectoryInfo> KitOption() =>
        new("--kit") { Description = "The operator's startup kit (gct pki issue --operator NAME).", Required = true };

    private static Option<string?> CoordinatorOption() =>
        new("--coordinator") { Description = "The coordinator's https:// address (default: the one in the kit)." };

    private static Command Models()
    {
        var cmd = new Command("models", "List the global model versions (number, parent, label, origin, per-stage SHA-256 and size).");
        var kit = KitOption();
        var address = CoordinatorOption();
        cmd.Options.Add(kit);
        cmd.Options.Add(address);
        cmd.SetAction(async (parse, ct) => await CallAsync(parse.GetRequiredValue(kit), parse.GetValue(address), async client =>
        {
            var models = await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct);
            var table = new Table().AddColumns("version", "parent", "label", "from", "created", "stage", "sha256", "MB");
            foreach (var v in models.Versions)
            {
                foreach (var s in v.Stages)
                {
                    table.AddRow(
                        v.Version.ToString(CultureInfo.InvariantCulture), v.ParentVersion == 0 ? "-" : v.ParentVersion.ToString(CultureInfo.InvariantCulture), Markup.Escape(v.Label),
                        v.FromRound == 0 ? Markup.Escape(v.CreatedBy) : $"round {v.FromRound}", Time(v.CreatedUnixMs), Stage(s.Stage), s.Sha256[..16], (s.Bytes / 1e6).ToString("0.###", CultureInfo.InvariantCulture));
                }
            }

            AnsiConsole.Write(table);
            AnsiConsole.WriteLine($"{models.Versions.Count} version(s)");
        }));

        var register = new Command("register", "Register a new global model version from a stage's weights (.gctw) or a model bundle's stage.");
        var kit2 = KitOption();
        var address2 = CoordinatorOption();
        var weights = new Option<FileInfo?>("--weights") { Description = "The stage's weights as a .gctw file." };
        var bundle = new Option<DirectoryInfo?>("--bundle") { Description = "A model bundle directory (gct model import-released, gct train all): its stage's weights are sent." };
        var stage = new Option<string>("--stage") { Description = "ctvit, maskgit or superres.", Required = true };
        var label = new Option<string>("--label") { Description = "A label for the version.", DefaultValueFactory = _ => "" };
        var parent = new Option<long>("--parent") { Description = "Take the other stages from this version (default: none)." };
        register.Options.Add(kit2);
        register.Options.Add(address2);
        register.Options.Add(weights);
        register.Options.Add(bundle);
        register.Options.Add(stage);
        register.Options.Add(label);
        register.Options.Add(parent);
        register.SetAction(async (parse, ct) =>
        {
            var stageValue = ParseStage(parse.GetRequiredValue(stage));
            var file = parse.GetValue(weights);
            var dir = parse.GetValue(bundle);
            if ((file is null) == (dir is null))
            {
                throw new CommandFailure("give exactly one of --weights FILE.gctw or --bundle DIR");
            }

            WeightSet set;
            try
            {
                set = file is not null
                    ? await WeightFile.ReadAsync(file.FullName, ct)
                    : BundleWeights.ReadStage(dir!.FullName, GenerateCT.Model.Training.ModelStage.Parse(parse.GetRequiredValue(stage)));
            }
            catch (FederationException e)
            {
                throw new CommandFailure($"{file?.FullName ?? dir!.FullName}: {e.Message}", e);
            }

            return await CallAsync(parse.GetRequiredValue(kit2), parse.GetValue(address2), async client =>
            {
                using var call = client.RegisterModel(cancellationToken: ct);
                await call.RequestStream.WriteAsync(new RegisterModelMessage { Header = new RegisterModelHeader { Label = parse.GetValue(label) ?? "", ParentVersion = parse.GetValue(parent) } }, ct);
                await call.RequestStream.WriteAsync(new RegisterModelMessage { Stage = stageValue }, ct);
                foreach (var chunk in ChunkWriter.Chunks(set))
                {
                    await call.RequestStream.WriteAsync(new RegisterModelMessage { Chunk = chunk }, ct);
                }

                await call.RequestStream.CompleteAsync();
                var v = await call;
                var s = v.Stages.Single(x => x.Stage == stageValue);
                AnsiConsole.WriteLine($"registered version {v.Version}: {Stage(s.Stage)} {s.Tensors} tensors, {s.Bytes / 1e6:0.###} MB, sha256 {s.Sha256}");
            });
        });
        cmd.Subcommands.Add(register);
        return cmd;
    }

    private static Command Rounds()
    {
        var cmd = new Command("rounds", "Training rounds.");
        var start = new Command("start", "Start a training round of one stage; nodes enrolled now are its participants.");
        var kit = KitOption();
        var address = CoordinatorOption();
        var stage = new Option<string>("--stage") { Description = "ctvit, maskgit or superres.", Required = true };
        var steps = new Option<int>("--local-steps") { Description = "Local training steps per node.", Required = true };
        var k = new Option<int>("--min-nodes") { Description = "k: the round needs at least this many updates.", Required = true };
        var deadline = new Option<string>("--deadline") { Description = "How long the round stays open, e.g. 90s, 30m, 2h.", Required = true };
        var lr = new Option<double>("--learning-rate") { Description = "Local learning rate (default 1e-4).", DefaultValueFactory = _ => 1e-4 };
        var batch = new Option<int>("--batch-size") { Description = "Local batch size (default 1).", DefaultValueFactory = _ => 1 };
        var baseVersion = new Option<long>("--base") { Description = "Base version (default: the newest with the stage)." };
        var strategy = new Option<string>("--strategy") { Description = "fedavg (default), fedprox, fedadam or fedyogi.", DefaultValueFactory = _ => "fedavg" };
        var mu = new Option<double>("--mu") { Description = "FedProx μ (required with fedprox)." };
        var serverLr = new Option<double>("--server-lr") { Description = "FedAdam/FedYogi server learning rate η (default Flower's)." };
        foreach (var o in new Option[] { kit, address, stage, steps, k, deadline, lr, batch, baseVersion, strategy, mu, serverLr })
        {
            start.Options.Add(o);
        }

        start.SetAction(async (parse, ct) =>
        {
            var request = new StartRoundRequest
            {
                Stage = ParseStage(parse.GetRequiredValue(stage)),
                LocalSteps = parse.GetValue(steps),
                MinNodes = parse.GetValue(k),
                DeadlineSeconds = (long)ParseDuration(parse.GetRequiredValue(deadline)).TotalSeconds,
                LearningRate = parse.GetValue(lr),
                BatchSize = parse.GetValue(batch),
                BaseVersion = parse.GetValue(baseVersion),
                Strategy = parse.GetValue(strategy) switch
                {
                    "fedavg" => RoundStrategy.Fedavg,
                    "fedprox" => RoundStrategy.Fedprox,
                    "fedadam" => RoundStrategy.Fedadam,
                    "fedyogi" => RoundStrategy.Fedyogi,
                    var s => throw new CommandFailure($"--strategy must be fedavg, fedprox, fedadam or fedyogi, not '{s}'"),
                },
                ProximalMu = parse.GetValue(mu),
                ServerLearningRate = parse.GetValue(serverLr),
            };
            return await CallAsync(parse.GetRequiredValue(kit), parse.GetValue(address), async client =>
            {
                var r = await client.StartRoundAsync(request, cancellationToken: ct);
                AnsiConsole.WriteLine($"round {r.Round} open: {Stage(r.Stage)} from version {r.BaseVersion}, {Strategy(r)}, k={r.MinNodes} of {r.UpdatesExpected} participant(s), deadline {Time(r.DeadlineUnixMs)}");
            });
        });
        cmd.Subcommands.Add(start);
        return cmd;
    }

    private static Command Status()
    {
        var cmd = new Command("status", "Nodes with their last contact, rounds with their progress and per-node scalar metrics.");
        var kit = KitOption();
        var address = CoordinatorOption();
        var rounds = new Option<int>("--rounds") { Description = "How many of the newest rounds to show (default 20)." };
        cmd.Options.Add(kit);
        cmd.Options.Add(address);
        cmd.Options.Add(rounds);
        cmd.SetAction(async (parse, ct) => await CallAsync(parse.GetRequiredValue(kit), parse.GetValue(address), async client =>
        {
            var status = await client.GetStatusAsync(new GetStatusRequest { Rounds = parse.GetValue(rounds) }, cancellationToken: ct);
            AnsiConsole.WriteLine($"federation {status.FederationId} · current model version {status.CurrentModelVersion}");
            var nodes = new Table().AddColumns("node", "last contact", "device", "samples", "software");
            foreach (var n in status.Nodes)
            {
                nodes.AddRow(Markup.Escape(n.NodeId), Time(n.LastContactUnixMs), Markup.Escape(n.Device), n.TrainingSamples.ToString(CultureInfo.InvariantCulture), Markup.Escape(n.SoftwareVersion));
            }

            AnsiConsole.Write(nodes);
            var table = new Table().AddColumns("round", "stage", "state", "updates", "base → result", "strategy", "note");
            foreach (var r in status.Rounds)
            {
                table.AddRow(
                    r.Round.ToString(CultureInfo.InvariantCulture), Stage(r.Stage), Markup.Escape(r.State), $"{r.UpdatesReceived}/{r.UpdatesExpected} (k={r.MinNodes})",
                    $"{r.BaseVersion} → {(r.ResultVersion == 0 ? "-" : r.ResultVersion.ToString(CultureInfo.InvariantCulture))}",
                    Strategy(r), Markup.Escape(r.FailureReason));
            }

            AnsiConsole.Write(table);
            foreach (var r in status.Rounds.Where(r => r.State == "open"))
            {
                var left = DateTimeOffset.FromUnixTimeMilliseconds(r.DeadlineUnixMs) - DateTimeOffset.UtcNow;
                AnsiConsole.WriteLine($"round {r.Round} {Stage(r.Stage)} {Progress(r)} · deadline in {(left > TimeSpan.Zero ? left.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "00:00:00")}");
            }

            var perNode = new Table().AddColumns("round", "node", "update", "samples", "metrics");
            foreach (var r in status.Rounds)
            {
                foreach (var n in r.Nodes)
                {
                    var metrics = string.Join(" ", n.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key}={m.Value:0.####}")));
                    var state = n.State.Length == 0 ? "-" : n.Reason.Length == 0 ? n.State : $"{n.State}: {n.Reason}";
                    perNode.AddRow(r.Round.ToString(CultureInfo.InvariantCulture), Markup.Escape(n.NodeId), Markup.Escape(state), n.SampleCount.ToString(CultureInfo.InvariantCulture), Markup.Escape(metrics));
                }
            }

            AnsiConsole.Write(perNode);
        }));
        return cmd;
    }

    /// <summary>A bar of the updates received out of those expected, with k.</summary>
    internal static string Progress(RoundStatus r)
    {
        var counts = $"{r.UpdatesReceived}/{r.UpdatesExpected} updates (k={r.MinNodes})";
        const int Width = 10;
        int full = r.UpdatesExpected == 0 ? 0 : (int)Math.Round(Width * Math.Min(1.0, (double)r.UpdatesReceived / r.UpdatesExpected));
        return "[" + new string('#', full) + new string('.', Width - full) + "] " + counts;
    }

    internal static TimeSpan ParseDuration(string text)
    {
        var m = DurationPattern().Match(text.Trim());
        if (m.Success)
        {
            var n = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            return m.Groups[2].Value switch
            {
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero
            ? span
            : throw new CommandFailure($"--deadline '{text}' is not a duration such as 90s, 30m, 2h or 1d");
    }

    private static ModelStage ParseStage(string name) => name switch
    {
        "ctvit" => ModelStage.Ctvit,
        "maskgit" => ModelStage.Maskgit,
        "superres" => ModelStage.Superres,
        _ => throw new CommandFailure($"--stage must be ctvit, maskgit or superres, not '{name}'"),
    };

    private static string Stage(ModelStage stage) => stage switch
    {
        ModelStage.Ctvit => "ctvit",
        ModelStage.Maskgit => "maskgit",
        ModelStage.Superres => "superres",
        _ => "?",
    };

    private static string Strategy(RoundStatus r) => r.Strategy switch
    {
        RoundStrategy.Fedprox => string.Create(CultureInfo.InvariantCulture, $"fedprox μ={r.ProximalMu}"),
        RoundStrategy.Fedadam => string.Create(CultureInfo.InvariantCulture, $"fedadam η={r.ServerLearningRate}"),
        RoundStrategy.Fedyogi => string.Create(CultureInfo.InvariantCulture, $"fedyogi η={r.ServerLearningRate}"),
        _ => "fedavg",
    };

    private static string Time(long unixMs) =>
        unixMs == 0 ? "-" : DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Opens the kit's mutual TLS channel and runs <paramref name="call"/>; a refusal ends the command as one line (exit 2).</summary>
    private static async Task<int> CallAsync(DirectoryInfo kitDirectory, string? address, Func<Operator.OperatorClient, Task> call)
    {
        StartupKit kit;
        try
        {
            kit = StartupKit.Load(kitDirectory.FullName);
        }
        catch (PkiException e)
        {
            throw new CommandFailure(e.Message, e);
        }

        using (kit)
        {
            if (kit.Role != SiteRole.Operator)
            {
                throw new CommandFailure($"{kitDirectory.FullName} is a {kit.Role.Name()} kit: gct federation needs an operator kit (gct pki issue --operator NAME)");
            }

            using var channel = kit.CreateCoordinatorChannel(address is null ? null : new Uri(address));
            try
            {
                await call(new Operator.OperatorClient(channel));
            }
            catch (RpcException e)
            {
                throw new CommandFailure($"the coordinator answered {e.StatusCode}: {e.Status.Detail}", e);
            }

            return 0;
        }
    }

    [GeneratedRegex("^([0-9]+)(s|m|h|d)$")]
    private static partial Regex DurationPattern();
}
