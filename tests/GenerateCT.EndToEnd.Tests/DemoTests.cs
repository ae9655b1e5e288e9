using System.Diagnostics;
using GenerateCT.Testing;

namespace GenerateCT.EndToEnd.Tests;

public class DemoTests
{
    [Fact]
    public async Task Gct_demo_starts_a_coordinator_and_a_node_that_answer_health_over_grpc_and_ingests_synthetic_patients()
    {
        var dir = Scratch.NewDirectory("gct-demo");
        try
        {
            var result = await Gct.RunAsync(TimeSpan.FromMinutes(8), "demo", "--data-dir", dir);
            Assert.True(result.ExitCode == 0, result.Output);
            Assert.Contains("coordinator", result.Output);
            // Health twice per service: when they start and after the ingest.
            Assert.Equal(4, result.Output.Split("Serving").Length - 1);
            Assert.Equal(4, result.Output.Split("│ assembled │").Length - 1);
            Assert.Contains("Quarantined: 0", result.Output);
            Assert.Contains("audit chain: intact", result.Output);
            Assert.True(File.Exists(Path.Combine(dir, "node", "postgres", "data", "PG_VERSION")));
            Assert.True(File.Exists(Path.Combine(dir, "coordinator", "postgres", "data", "PG_VERSION")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Gct_help_lists_its_verbs()
    {
        var result = await Gct.RunAsync(TimeSpan.FromMinutes(1), "--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var verb in new[] { "demo", "node", "coordinator", "bench" })
        {
            Assert.Contains(verb, result.Output);
        }
    }
}
