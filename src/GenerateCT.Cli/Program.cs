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
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(BundleCommands.CreateGroup());
        root.Subcommands.Add(TrainAllCommand.CreateGroup());
        ImagingCommands.Create().ToList().ForEach(root.Subcommands.Add);
        root.Subcommands.Add(DicomCommands.Create());
        return root;
    }
}
