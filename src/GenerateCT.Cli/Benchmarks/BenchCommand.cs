using System.CommandLine;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench …`: speed measured in benchmarks, not in timed tests. Every benchmark writes JSON
/// with ratios against a peer measured in the same run.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "Run a benchmark and write its JSON report.");
        // Each benchmark adds its sub-command here.
        cmd.Subcommands.Add(PipelineBenchmark.Create());
        cmd.Subcommands.Add(PromptFollowingBenchmark.Create());
        cmd.Subcommands.Add(IngestBenchmark.Create());
        cmd.Subcommands.Add(ModelBenchmark.Create());
        cmd.Subcommands.Add(AggregateBenchmark.Create());
        cmd.Subcommands.Add(UploadBenchmark.Create());
        return cmd;
    }
}
