using System.CommandLine;
using GenerateCT.Coordinator;
using Spectre.Console;

namespace GenerateCT.Cli.Hosts;

internal static class CoordinatorCommand
{
    public static Command Create()
    {
        var cmd = new Command("coordinator", "Run a federation coordinator: its database and a gRPC health endpoint over TLS (node enrolment, training rounds and aggregation are not implemented yet).");
        var config = new Option<FileInfo?>("--config") { Description = "appsettings-style JSON file (section \"Coordinator\")." };
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Override Coordinator:DataDirectory." };
        var grpcPort = new Option<int?>("--grpc-port") { Description = "Override Coordinator:GrpcPort." };
        cmd.Options.Add(config);
        cmd.Options.Add(dataDir);
        cmd.Options.Add(grpcPort);
        cmd.SetAction(async (parse, ct) =>
        {
            var configuration = HostConfiguration.Build(parse.GetValue(config), new Dictionary<string, string?>
            {
                ["Coordinator:DataDirectory"] = parse.GetValue(dataDir)?.FullName,
                ["Coordinator:GrpcPort"] = parse.GetValue(grpcPort)?.ToString(),
            });
            await using var coordinator = await CoordinatorHost.StartAsync(configuration, ct);
            AnsiConsole.MarkupLineInterpolated($"[green]coordinator up[/]: gRPC {coordinator.GrpcAddress} · data {coordinator.Options.DataDirectory}");
            await coordinator.WaitForShutdownAsync(ct);
            return 0;
        });
        return cmd;
    }
}
