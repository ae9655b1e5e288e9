using System.CommandLine;
using GenerateCT.Coordinator;
using GenerateCT.Federation.Hosting;
using GenerateCT.Node;
using Spectre.Console;

namespace GenerateCT.Cli.Commands;

/// <summary>
/// `gct demo`: the main job of the quickstart. Starts a coordinator and a node, each on its own
/// embedded PostgreSQL cluster with self-signed TLS, and checks them over real gRPC.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Start a coordinator and a node on embedded databases and show them working end to end.");
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Where the demo keeps its state (default: the 'demo' data directory)." };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Keep both services running until Ctrl+C." };
        cmd.Options.Add(dataDir);
        cmd.Options.Add(keepRunning);
        cmd.SetAction(async (parse, ct) =>
        {
            var root = parse.GetValue(dataDir)?.FullName ?? DataDirectories.Default("demo");
            AnsiConsole.MarkupLineInterpolated($"[bold]GenerateCT.Federated demo[/] — state in {root}");

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
                        }),
                        ct);
                });

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
}
