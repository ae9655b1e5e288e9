using System.Diagnostics;
using GenerateCT.Testing;

namespace GenerateCT.EndToEnd.Tests;

public class DemoTests
{
    [Fact]
    public async Task Gct_demo_starts_a_coordinator_and_two_nodes_that_answer_health_over_grpc_ingests_synthetic_patients_and_runs_a_federated_round()
    {
        var dir = Scratch.NewDirectory("gct-demo");
        try
        {
            var result = await Gct.RunAsync(TimeSpan.FromMinutes(8), "demo", "--data-dir", dir, "--round-deadline", "20");
            Assert.True(result.ExitCode == 0, result.Output);
            Assert.Contains("coordinator", result.Output);
            // Health twice per service (coordinator, node, node-b): when they start and after the ingest and the round.
            Assert.Equal(6, result.Output.Split("Serving").Length - 1);
            // Four patients to each node, each assembled.
            Assert.Equal(8, result.Output.Split("│ assembled │").Length - 1);
            Assert.Equal(2, result.Output.Split("Quarantined: 0 · audit chain: intact").Length - 1);
            Assert.True(File.Exists(Path.Combine(dir, "node", "postgres", "data", "PG_VERSION")));
            Assert.True(File.Exists(Path.Combine(dir, "node-b", "postgres", "data", "PG_VERSION")));
            Assert.True(File.Exists(Path.Combine(dir, "coordinator", "postgres", "data", "PG_VERSION")));

            // The federation: a CA with kits, both nodes enrolled over mutual TLS, the base version registered, one
            // MaskGIT round with k=2 that reached an end state, and each node's own audited account of it.
            foreach (var kit in new[] { "localhost", "hospital-a", "hospital-b", "demo-operator" })
            {
                Assert.True(File.Exists(Path.Combine(dir, "pki", "kits", kit, "kit.json")), kit);
            }

            Assert.Equal(2, result.Output.Split("DataSteward approved federated training of maskgit").Length - 1);
            Assert.Contains("Base global version 1: maskgit", result.Output);
            Assert.Contains("Round 1 open: maskgit from version 1, fedavg, 2 local steps, k=2 of 2", result.Output);
            Assert.Matches(@"│ hospital-a │ cpu", result.Output);
            Assert.Matches(@"│ hospital-b │ cpu", result.Output);
            Assert.Contains("Round 1: completed (2/2 updates, k=2) → global version 2", result.Output);
            Assert.Contains("\nnode · round 1: success", result.Output);
            Assert.Contains("\nnode-b · round 1: success", result.Output);
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
