using System.CommandLine;
using GenerateCT.Node;
using Spectre.Console;

namespace GenerateCT.Cli.Hosts;

internal static class NodeCommand
{
    public static Command Create()
    {
        var cmd = new Command("node", "Run a hospital node: DICOM and HL7 ingest with de-identification, an audit trail, generation jobs from a model bundle and fine-tuning jobs on its own training set, over gRPC with TLS (it takes no part in federated rounds yet).");
        var config = new Option<FileInfo?>("--config") { Description = "appsettings-style JSON file (section \"Node\")." };
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Override Node:DataDirectory." };
        var grpcPort = new Option<int?>("--grpc-port") { Description = "Override Node:GrpcPort." };
        var dicomPort = new Option<int?>("--dicom-port") { Description = "Override Node:DicomPort." };
        cmd.Options.Add(config);
        cmd.Options.Add(dataDir);
        cmd.Options.Add(grpcPort);
        cmd.Options.Add(dicomPort);
        cmd.SetAction(async (parse, ct) =>
        {
            var configuration = HostConfiguration.Build(parse.GetValue(config), new Dictionary<string, string?>
            {
                ["Node:DataDirectory"] = parse.GetValue(dataDir)?.FullName,
                ["Node:GrpcPort"] = parse.GetValue(grpcPort)?.ToString(),
                ["Node:DicomPort"] = parse.GetValue(dicomPort)?.ToString(),
            });
            await using var node = await NodeHost.StartAsync(configuration, ct);
            AnsiConsole.MarkupLineInterpolated($"[green]node up[/]: gRPC {node.GrpcAddress} · data {node.Options.DataDirectory} · AE {node.Options.AeTitle}");
            await node.WaitForShutdownAsync(ct);
            return 0;
        });
        return cmd;
    }
}
