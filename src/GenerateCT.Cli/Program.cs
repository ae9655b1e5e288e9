using System.CommandLine;
using GenerateCT.Cli.Commands;

namespace GenerateCT.Cli;

/// <summary>`gct`: the one command-line entry point of GenerateCT.Federated.</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = BuildRoot();
        return await root.Parse(args).InvokeAsync();
    }

    /// <summary>Every verb of `gct`. Each area adds its own command group here.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("GenerateCT.Federated: on-premise, federated text-to-CT generation (node, coordinator and tools).");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(NodeCommand.Create());
        root.Subcommands.Add(CoordinatorCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(AuditCommands.Create());
        root.Subcommands.Add(TrainCommands.Create());
        root.Subcommands.Add(ModelCommands.Create());
        return root;
    }
}
