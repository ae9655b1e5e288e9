using System.CommandLine;
using GenerateCT.Cli.Audit;
using GenerateCT.Cli.Benchmarks;
using GenerateCT.Cli.Cohorts;
using GenerateCT.Cli.Federation;
using GenerateCT.Cli.Hosts;
using GenerateCT.Cli.Imaging;
using GenerateCT.Cli.Models;
using GenerateCT.Cli.Pki;

namespace GenerateCT.Cli;

/// <summary>`gct`: the one command-line entry point of GenerateCT.Federated.</summary>
/// <remarks>
/// The verbs live in folders by purpose: Hosts (node, coordinator, demo), Imaging (phantoms,
/// DICOM, de-identification, conversion, previews), Models (training, checkpoints, bundles,
/// generation), Pki (the federation CA and startup kits), Cohorts (a researcher's jobs on a node), Audit (the node's audit trail) and
/// Benchmarks. Exit codes and error lines follow <see cref="CommandFailure"/>.
/// </remarks>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = BuildRoot();
        return await root.Parse(args).InvokeAsync();
    }

    /// <summary>Every verb of `gct`, group by group.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("GenerateCT.Federated: on-premise text-to-CT generation for hospitals (node, coordinator and tools).");

        // Hosts
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(NodeCommand.Create());
        root.Subcommands.Add(CoordinatorCommand.Create());
        root.Subcommands.Add(PkiCommands.Create());
        root.Subcommands.Add(FederationCommands.Create());

        // Imaging
        root.Subcommands.Add(DicomCommands.Create());
        root.Subcommands.Add(DeidCommands.Create());
        ImagingCommands.Create().ToList().ForEach(root.Subcommands.Add);
        root.Subcommands.Add(ConvertCommand.Create());

        // Models
        var train = TrainCommands.Create();
        train.Subcommands.Add(TrainAllCommand.Create());
        root.Subcommands.Add(train);
        var model = ModelCommands.Create();
        BundleCommands.AddTo(model);
        root.Subcommands.Add(model);
        root.Subcommands.Add(GenerateCommand.Create());

        // Cohorts, Audit, Benchmarks
        root.Subcommands.Add(CohortCommands.Create());
        root.Subcommands.Add(AuditCommands.Create());
        root.Subcommands.Add(BenchCommand.Create());

        CommandFailure.Apply(root);
        return root;
    }
}
