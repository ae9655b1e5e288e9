using System.Text.Json;
using GenerateCT.Admin.V1;
using GenerateCT.Data;
using GenerateCT.Hosting;
using GenerateCT.Testing;
using Grpc.Core;
using Npgsql;

namespace GenerateCT.Node.Tests;

public class AuditCommandTests
{
    [Fact]
    public async Task Gct_audit_verifies_a_running_or_stopped_node_and_names_the_row_the_owner_tampered_with()
    {
        var dir = Scratch.NewDirectory("gct-node-audit");
        try
        {
            var config = TestNodeConfiguration.Create(dir);
            await using (var node = await NodeHost.StartAsync(config))
            {
                // No identity provider configured: everything but health is refused, and the refusal is audited.
                using var channel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, node.Certificate);
                var refused = await Assert.ThrowsAsync<RpcException>(() => new NodeAdmin.NodeAdminClient(channel).GetStatusAsync(
                    new StatusRequest(),
                    new Metadata { { "Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJyb2xlcyI6WyJBZG1pbiJdfQ." } }).ResponseAsync);
                Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);

                var running = await Gct.RunAsync(TimeSpan.FromSeconds(60), "audit", "verify", "--data-dir", dir);
                Assert.True(running.ExitCode == 0, running.Output);
                Assert.Contains("audit chain intact: 2 rows", running.Output);
            }

            var export = await Gct.RunAsync(TimeSpan.FromSeconds(60), "audit", "export", "--data-dir", dir, "--since", "2000-01-01", "--format", "json");
            Assert.True(export.ExitCode == 0, export.Output);
            var rows = export.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal(["node:start", "grpc:/generatect.admin.v1.NodeAdmin/GetStatus"], rows.Select(r => r.GetProperty("action").GetString()));
            Assert.Equal(["system", "anonymous"], rows.Select(r => r.GetProperty("user").GetString()));
            Assert.Equal("denied", rows[1].GetProperty("outcome").GetString());

            var future = await Gct.RunAsync(TimeSpan.FromSeconds(60), "audit", "export", "--data-dir", dir, "--since", DateTimeOffset.UtcNow.AddDays(1).ToString("O"));
            Assert.Equal(0, future.ExitCode);
            Assert.DoesNotContain("<85>1", future.Output);

            // The database owner rewrites the refusal into a success: the chain shows it.
            await using (var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = Path.Combine(dir, "postgres") }))
            await using (var conn = new NpgsqlConnection(cluster.ConnectionString))
            {
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("UPDATE audit_events SET \"Outcome\" = 'success' WHERE \"Id\" = 2", conn);
                Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
            }

            var tampered = await Gct.RunAsync(TimeSpan.FromSeconds(60), "audit", "verify", "--data-dir", dir);
            Assert.Equal(2, tampered.ExitCode);
            Assert.Contains("BROKEN at row 2", tampered.Output);

            var missing = await Gct.RunAsync(TimeSpan.FromSeconds(60), "audit", "verify", "--data-dir", Path.Combine(dir, "not-a-node"));
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("no node database in", missing.Output);
            Assert.DoesNotContain("   at ", missing.Output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
