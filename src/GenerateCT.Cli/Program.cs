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
        root.Subcommands.Add(DicomCommands.Create());
        root.Subcommands.Add(DeidCommands.Create());
        PhantomDicom.Register();
        ImagingCommands.Create().ToList().ForEach(root.Subcommands.Add);
        root.Subcommands.Add(ConvertCommand.Create());
        var train = TrainCommands.Create();
        train.Subcommands.Add(TrainAllCommand.Create());
        root.Subcommands.Add(train);
        var model = ModelCommands.Create();
        BundleCommands.AddTo(model);
        root.Subcommands.Add(model);
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(CohortCommands.Create());
        return root;
    }
}
