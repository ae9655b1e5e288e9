using System.CommandLine;
using GenerateCT.Coordinator;
using Spectre.Console;

namespace GenerateCT.Cli.Hosts;

internal static class CoordinatorCommand
{
    public static Command Create()
    {
        var cmd = new Command("coordinator", "Run a federation coordinator: its database, gRPC health over TLS and, with a startup kit (--kit or Coordinator:Pki:Kit), node enrolment, training rounds and aggregation over mutual TLS (operators use gct federation).");
        var config = new Option<FileInfo?>("--config") { Description = "appsettings-style JSON file (section \"Coordinator\")." };
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Override Coordinator:DataDirectory." };
        var grpcPort = new Option<int?>("--grpc-port") { Description = "Override Coordinator:GrpcPort." };
        var kit = new Option<DirectoryInfo?>("--kit") { Description = "Override Coordinator:Pki:Kit: the coordinator's startup kit (gct pki issue --coordinator HOSTNAME)." };
        cmd.Options.Add(config);
        cmd.Options.Add(dataDir);
        cmd.Options.Add(grpcPort);
        cmd.Options.Add(kit);
        cmd.SetAction(async (parse, ct) =>
        {
            var configuration = HostConfiguration.Build(parse.GetValue(config), new Dictionary<string, string?>
            {
                ["Coordinator:DataDirectory"] = parse.GetValue(dataDir)?.FullName,
                ["Coordinator:GrpcPort"] = parse.GetValue(grpcPort)?.ToString(),
                ["Coordinator:Pki:Kit"] = parse.GetValue(kit)?.FullName,
            });
            await using var coordinator = await CoordinatorHost.StartAsync(configuration, ct);
            var pki = coordinator.Options.Pki.IsConfigured ? $"mutual TLS, kit {coordinator.Options.Pki.Kit}" : "no federation kit: health only";
            AnsiConsole.MarkupLineInterpolated($"[green]coordinator up[/]: gRPC {coordinator.GrpcAddress} · data {coordinator.Options.DataDirectory} · {pki}");
            await coordinator.WaitForShutdownAsync(ct);
            return 0;
        });
        return cmd;
    }
}
