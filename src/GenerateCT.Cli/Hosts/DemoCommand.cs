using System.CommandLine;
using GenerateCT.Coordinator;
using GenerateCT.Hosting;
using GenerateCT.Node;
using Spectre.Console;

namespace GenerateCT.Cli.Hosts;

/// <summary>
/// `gct demo`: the main job of the quickstart. Starts a coordinator and a node, each on its own
/// embedded PostgreSQL cluster with self-signed TLS, and checks them over real gRPC.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Start a coordinator and two nodes on embedded databases with a federation CA and kits, check them over gRPC, send each node synthetic patients (DICOM C-STORE, HL7 reports) that it de-identifies on arrival, and run one federated MaskGIT round over both.");
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Where the demo keeps its state (default: the 'demo' data directory)." };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Keep both services running until Ctrl+C." };
        var patients = new Option<int>("--patients") { Description = "Synthetic patients the demo PACS sends.", DefaultValueFactory = _ => 4 };
        var slices = new Option<int>("--slices") { Description = "Slices per phantom CT (1 + 2k).", DefaultValueFactory = _ => 33 };
        var size = new Option<int>("--size") { Description = "In-plane size of the phantom CTs.", DefaultValueFactory = _ => 128 };
        cmd.Options.Add(dataDir);
        cmd.Options.Add(keepRunning);
        cmd.Options.Add(patients);
        cmd.Options.Add(slices);
        cmd.Options.Add(size);
        var localSteps = new Option<int>("--local-steps") { Description = "Local MaskGIT steps per node in the demo's federated round.", DefaultValueFactory = _ => 2 };
        var roundDeadline = new Option<int>("--round-deadline") { Description = "Seconds the demo's round stays open.", DefaultValueFactory = _ => 120 };
        cmd.Options.Add(localSteps);
        cmd.Options.Add(roundDeadline);
        cmd.SetAction(async (parse, ct) =>
        {
            var root = parse.GetValue(dataDir)?.FullName ?? DataDirectories.Default("demo");
            AnsiConsole.MarkupLineInterpolated($"[bold]GenerateCT.Federated demo[/] — state in {root}");
            if (!PrepareDemoDirectory(root))
            {
                throw new CommandFailure($"{root} exists and is not a demo directory; choose another with --data-dir");
            }

            CoordinatorHost? coordinator = null;
            NodeHost? node = null;
            NodeHost? nodeB = null;
            try
            {
                AnsiConsole.Write(new Rule("[bold]Federation PKI: CA, startup kits (gct pki)[/]").LeftJustified());
                var pki = DemoFederation.CreatePki(root, [NodeA, NodeB]);

                // The tiny bundle is each node's generation model and, registered, the federation's base version.
                var bundle = await DemoFederation.TrainBaseBundleAsync(root, ct);
                await AnsiConsole.Status().StartAsync("Starting coordinator (embedded PostgreSQL, TLS)…", async status =>
                {
                    coordinator = await CoordinatorHost.StartAsync(
                        HostConfiguration.Build(null, new Dictionary<string, string?>
                        {
                            ["Coordinator:DataDirectory"] = Path.Combine(root, "coordinator"),
                            ["Coordinator:GrpcPort"] = "0",
                            ["Coordinator:GrpcAddress"] = "127.0.0.1",
                            ["Coordinator:Pki:Kit"] = pki.CoordinatorKit,
                            ["Coordinator:RoundCheckMilliseconds"] = "250",
                        }),
                        ct);
                    status.Status("Starting node (embedded PostgreSQL, TLS)…");
                    node = await StartNodeAsync(Path.Combine(root, "node"), pki.NodeKits[NodeA], coordinator.GrpcAddress, bundle, ct);
                    status.Status("Starting node-b (embedded PostgreSQL, TLS)…");
                    nodeB = await StartNodeAsync(Path.Combine(root, "node-b"), pki.NodeKits[NodeB], coordinator.GrpcAddress, bundle, ct);
                });

                AnsiConsole.Write(new Rule("[bold]Services[/]").LeftJustified());
                var table = new Table().AddColumns("service", "gRPC (TLS)", "database", "health");
                foreach (var (name, address, certificate, db) in new[]
                {
                    ("coordinator", coordinator!.GrpcAddress, coordinator.Certificate, coordinator.DatabaseConnectionString),
                    ("node", node!.GrpcAddress, node.Certificate, node.DatabaseConnectionString),
                    ("node-b", nodeB!.GrpcAddress, nodeB.Certificate, nodeB.DatabaseConnectionString),
                })
                {
                    using var channel = GrpcClientChannels.ForPinnedServer(address, certificate);
                    var health = await GrpcClientChannels.CheckHealthAsync(channel, ct);
                    var host = new Npgsql.NpgsqlConnectionStringBuilder(db);
                    table.AddRow(name, address.ToString(), $"embedded PostgreSQL :{host.Port}", health.ToString());
                }

                AnsiConsole.Write(table);

                AnsiConsole.Write(new Rule("[bold]Hospital → node: DICOM C-STORE and HL7 reports, de-identified on arrival[/]").LeftJustified());
                await DemoIngest.RunAsync(node, root, parse.GetValue(patients), parse.GetValue(slices), parse.GetValue(size), "phantoms", 100, ct);
                AnsiConsole.Write(new Rule("[bold]Second hospital → node-b[/]").LeftJustified());
                await DemoIngest.RunAsync(nodeB, root, parse.GetValue(patients), parse.GetValue(slices), parse.GetValue(size), "phantoms-b", 200, ct);

                AnsiConsole.Write(new Rule("[bold]A federated round: MaskGIT, FedAvg over both nodes[/]").LeftJustified());
                foreach (var (name, host) in new[] { ("node", node), ("node-b", nodeB) })
                {
                    await DemoFederation.ApproveMaskGitAsync(host, ct);
                    AnsiConsole.MarkupLineInterpolated($"{name}: DataSteward approved federated training of maskgit");
                }

                var roundStart = DateTimeOffset.UtcNow;
                var outcome = await DemoFederation.RunRoundAsync(pki, coordinator.GrpcAddress, bundle, 2, parse.GetValue(localSteps), TimeSpan.FromSeconds(parse.GetValue(roundDeadline)), ct);
                await DemoFederation.ShowNodeAccountsAsync([("node", node), ("node-b", nodeB)], roundStart, ct);

                // Both services are still healthy after the work.
                foreach (var (name, address, certificate) in new[] { ("coordinator", coordinator.GrpcAddress, coordinator.Certificate), ("node", node.GrpcAddress, node.Certificate), ("node-b", nodeB.GrpcAddress, nodeB.Certificate) })
                {
                    using var channel = GrpcClientChannels.ForPinnedServer(address, certificate);
                    AnsiConsole.MarkupLineInterpolated($"{name} health over gRPC/TLS ({address}): [green]{await GrpcClientChannels.CheckHealthAsync(channel, ct)}[/]");
                }

                if (parse.GetValue(keepRunning))
                {
                    AnsiConsole.MarkupLine("Running; press Ctrl+C to stop.");
                    await node!.WaitForShutdownAsync(ct);
                }

                if (outcome.Round.State != "completed")
                {
                    throw new CommandFailure($"the demo's federated round {outcome.Round.Round} did not complete: {outcome.Round.State} {outcome.Round.FailureReason}");
                }

                return 0;
            }
            finally
            {
                if (nodeB is not null)
                {
                    await nodeB.DisposeAsync();
                }

                if (node is not null)
                {
                    await node.DisposeAsync();
                }

                if (coordinator is not null)
                {
                    await coordinator.DisposeAsync();
                }
            }
        });
        return cmd;
    }

    private const string NodeA = "hospital-a";
    private const string NodeB = "hospital-b";

    private static Task<NodeHost> StartNodeAsync(string dataDirectory, string kit, Uri coordinator, string bundle, CancellationToken ct) =>
        NodeHost.StartAsync(
            HostConfiguration.Build(null, new Dictionary<string, string?>
            {
                ["Node:DataDirectory"] = dataDirectory,
                ["Node:GrpcPort"] = "0",
                ["Node:GrpcAddress"] = "127.0.0.1",
                ["Node:DicomPort"] = "0",
                ["Node:Ingest:Hl7Port"] = "0",
                ["Node:Federation:Kit"] = kit,
                ["Node:Federation:Coordinator"] = coordinator.ToString(),
                ["Node:Federation:ReconnectSeconds"] = "1",
                ["Node:Generation:Bundle"] = bundle,
            }),
            ct);

    /// <summary>
    /// Each demo starts from a clean state: a directory the demo made before (it holds the marker
    /// file) is emptied; any other non-empty directory is left alone and refused.
    /// </summary>
    private static bool PrepareDemoDirectory(string root)
    {
        const string Marker = ".generatect-demo";
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            if (!File.Exists(Path.Combine(root, Marker)))
            {
                return false;
            }

            Directory.Delete(root, recursive: true);
        }

        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, Marker), "state of `gct demo`; removed by the next demo run\n");
        return true;
    }
}
