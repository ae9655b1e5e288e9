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
        var cmd = new Command("demo", "Start a coordinator and a node on embedded databases, check both over gRPC, and send the node synthetic patients (DICOM C-STORE, HL7 reports) that it de-identifies on arrival.");
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
            try
            {
                await AnsiConsole.Status().StartAsync("Starting coordinator (embedded PostgreSQL, TLS)…", async status =>
                {
                    coordinator = await CoordinatorHost.StartAsync(
                        HostConfiguration.Build(null, new Dictionary<string, string?>
                        {
                            ["Coordinator:DataDirectory"] = Path.Combine(root, "coordinator"),
                            ["Coordinator:GrpcPort"] = "0",
                            ["Coordinator:GrpcAddress"] = "127.0.0.1",
                        }),
                        ct);
                    status.Status("Starting node (embedded PostgreSQL, TLS)…");
                    node = await NodeHost.StartAsync(
                        HostConfiguration.Build(null, new Dictionary<string, string?>
                        {
                            ["Node:DataDirectory"] = Path.Combine(root, "node"),
                            ["Node:GrpcPort"] = "0",
                            ["Node:GrpcAddress"] = "127.0.0.1",
                            ["Node:DicomPort"] = "0",
                            ["Node:Ingest:Hl7Port"] = "0",
                        }),
                        ct);
                });

                AnsiConsole.Write(new Rule("[bold]Services[/]").LeftJustified());
                var table = new Table().AddColumns("service", "gRPC (TLS)", "database", "health");
                foreach (var (name, address, certificate, db) in new[]
                {
                    ("coordinator", coordinator!.GrpcAddress, coordinator.Certificate, coordinator.DatabaseConnectionString),
                    ("node", node!.GrpcAddress, node.Certificate, node.DatabaseConnectionString),
                })
                {
                    using var channel = GrpcClientChannels.ForPinnedServer(address, certificate);
                    var health = await GrpcClientChannels.CheckHealthAsync(channel, ct);
                    var host = new Npgsql.NpgsqlConnectionStringBuilder(db);
                    table.AddRow(name, address.ToString(), $"embedded PostgreSQL :{host.Port}", health.ToString());
                }

                AnsiConsole.Write(table);

                AnsiConsole.Write(new Rule("[bold]Hospital → node: DICOM C-STORE and HL7 reports, de-identified on arrival[/]").LeftJustified());
                await DemoIngest.RunAsync(node, root, parse.GetValue(patients), parse.GetValue(slices), parse.GetValue(size), ct);

                // Both services are still healthy after the work.
                foreach (var (name, address, certificate) in new[] { ("coordinator", coordinator.GrpcAddress, coordinator.Certificate), ("node", node.GrpcAddress, node.Certificate) })
                {
                    using var channel = GrpcClientChannels.ForPinnedServer(address, certificate);
                    AnsiConsole.MarkupLineInterpolated($"{name} health over gRPC/TLS ({address}): [green]{await GrpcClientChannels.CheckHealthAsync(channel, ct)}[/]");
                }

                if (parse.GetValue(keepRunning))
                {
                    AnsiConsole.MarkupLine("Running; press Ctrl+C to stop.");
                    await node!.WaitForShutdownAsync(ct);
                }

                return 0;
            }
            finally
            {
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
