using System.Net;
using System.Net.Sockets;
using GenerateCT.Coordinator;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.Weights;
using GenerateCT.Hosting;
using GenerateCT.Node.Federation;
using GenerateCT.Node.Training;
using ModelStage = GenerateCT.Model.Training.ModelStage;
using GenerateCT.Testing;
using Grpc.Health.V1;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node.Tests;

/// <summary>The node's federation client against a real coordinator over mutual TLS, and without one.</summary>
public class FederationClientTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static FederationCa Ca(Scratch scratch, out string coordinatorKit, out string nodeKit)
    {
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        coordinatorKit = ca.Issue(SiteRole.Coordinator, "localhost").Kit;
        nodeKit = ca.Issue(SiteRole.Node, "alpha").Kit;
        return ca;
    }

    private async Task<(CoordinatorHost Host, string Database)> StartCoordinatorAsync(Scratch scratch, string kit, string? database = null, int port = 0)
    {
        database ??= await postgres.CreateDatabaseAsync();
        var host = await CoordinatorHost.StartAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coordinator:DataDirectory"] = scratch.Combine("coordinator"),
            ["Coordinator:GrpcPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Coordinator:GrpcAddress"] = "127.0.0.1",
            ["Coordinator:ConnectionString"] = database,
            ["Coordinator:Pki:Kit"] = kit,
            ["Coordinator:RoundCheckMilliseconds"] = "100",
        }).Build());
        return (host, database);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static long RoundOf(AuditRecord record)
    {
        using var detail = System.Text.Json.JsonDocument.Parse(record.Detail!);
        return detail.RootElement.GetProperty("round").GetInt64();
    }

    private static Task<NodeHost> StartNodeAsync(Scratch scratch, string kit, Uri coordinator) => NodeHost.StartAsync(TestNodeConfiguration.Create(
        scratch.Combine("node"),
        ("Node:Federation:Kit", kit),
        ("Node:Federation:Coordinator", coordinator.ToString()),
        ("Node:Federation:ReconnectSeconds", "0.2"),
        ("Node:Federation:MaxReconnectSeconds", "1")));

    private static async Task<List<AuditRecord>> WaitForAuditAsync(string connectionString, Func<AuditRecord, bool> wanted)
    {
        var trail = new AuditTrail(connectionString);
        for (var i = 0; i < 300; i++)
        {
            var records = await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync();
            if (records.Any(wanted))
            {
                return records;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the awaited audit record did not appear in 30 s");
    }

    [Fact]
    public async Task A_node_with_a_kit_enrols_over_mutual_tls_with_only_its_version_device_and_sample_count()
    {
        using var scratch = new Scratch("gct-fedclient");
        Ca(scratch, out var coordinatorKit, out var nodeKit);
        var (started, database) = await StartCoordinatorAsync(scratch, coordinatorKit);
        await using var coordinator = started;

        await using var node = await StartNodeAsync(scratch, nodeKit, coordinator.GrpcAddress);

        var audit = await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.EnrolAction);
        var enrol = audit.First(r => r.Action == FederationClient.EnrolAction);
        Assert.Equal("success", enrol.Outcome);
        using (var detail = System.Text.Json.JsonDocument.Parse(enrol.Detail!))
        {
            Assert.Equal("alpha", detail.RootElement.GetProperty("node").GetString());
            Assert.Equal("hospital-net", detail.RootElement.GetProperty("federation").GetString());
            Assert.Equal(0, detail.RootElement.GetProperty("samples").GetInt64());
        }

        Assert.Equal("alpha", node.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<FederationClient>().Single().NodeId);

        await using var db = DatabaseSchema.CreateCoordinatorDb(database);
        var enrolled = await db.Nodes.SingleAsync();
        Assert.Equal(("alpha", 0L), (enrolled.NodeId, enrolled.TrainingSamples));
        Assert.StartsWith("cpu", enrolled.Device, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(enrolled.SoftwareVersion));
    }

    [Fact]
    public async Task Rounds_are_joined_only_while_the_steward_approves_their_stage_and_a_dropped_stream_is_reconnected()
    {
        using var scratch = new Scratch("gct-fedclient");
        var ca = Ca(scratch, out var coordinatorKit, out var nodeKit);
        using var operatorKit = StartupKit.Load(ca.Issue(SiteRole.Operator, "ops-anna").Kit);
        // A fixed port, so that the restarted coordinator is where the node looks for it.
        var port = FreePort();
        var (started, database) = await StartCoordinatorAsync(scratch, coordinatorKit, port: port);
        var coordinator = started;
        try
        {
            await using var node = await StartNodeAsync(scratch, nodeKit, coordinator.GrpcAddress);
            await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.EnrolAction);

            AuditRecord round;
            using (var channel = operatorKit.CreateCoordinatorChannel(coordinator.GrpcAddress))
            {
                var ops = new GenerateCT.Federation.Operator.V1.Operator.OperatorClient(channel);
                using var register = ops.RegisterModel();
                await register.RequestStream.WriteAsync(new RegisterModelMessage { Header = new RegisterModelHeader { Label = "base" } });
                await register.RequestStream.WriteAsync(new RegisterModelMessage { Stage = GenerateCT.Federation.V1.ModelStage.Maskgit });
                var weights = new WeightSet([new WeightTensor("w", [2, 2], [1f, 2f, 3f, 4f])]);
                foreach (var chunk in ChunkWriter.Chunks(weights, 1000))
                {
                    await register.RequestStream.WriteAsync(new RegisterModelMessage { Chunk = chunk });
                }

                await register.RequestStream.CompleteAsync();
                var version = await register;
                var approvals = node.Services.GetRequiredService<StageApprovals>();
                async Task<AuditRecord> RoundAsync(long number)
                {
                    await ops.StartRoundAsync(new StartRoundRequest { Stage = GenerateCT.Federation.V1.ModelStage.Maskgit, BaseVersion = version.Version, LocalSteps = 1, LearningRate = 1e-4, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 120 });
                    var records = await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.RoundAction && RoundOf(r) == number);
                    return records.Single(r => r.Action == FederationClient.RoundAction && RoundOf(r) == number);
                }

                // Never approved: not joined.
                round = await RoundAsync(1);
                Assert.Equal("skipped", round.Outcome);
                Assert.Contains("not approved", round.Detail, StringComparison.Ordinal);
                Assert.Contains("maskgit", round.Detail, StringComparison.Ordinal);

                // Approved: joined (this branch refuses a joined round's local steps with its own reason, never "not approved").
                await approvals.SetAsync(ModelStage.MaskGit, approved: true, "steward@hospital.example", CancellationToken.None);
                var joined = await RoundAsync(2);
                Assert.NotEqual("skipped", joined.Outcome);
                Assert.DoesNotContain("not approved", joined.Detail, StringComparison.Ordinal);

                // Withdrawn: the next round is not joined.
                await approvals.SetAsync(ModelStage.MaskGit, approved: false, "steward@hospital.example", CancellationToken.None);
                round = await RoundAsync(3);
                Assert.Equal("skipped", round.Outcome);
            }

            var audit = await new AuditTrail(node.DatabaseConnectionString).ReadAsync(DateTimeOffset.MinValue).ToListAsync();
            await using (var db = DatabaseSchema.CreateCoordinatorDb(database))
            {
                Assert.Empty(await db.RoundUpdates.ToListAsync());
            }

            // The coordinator goes away and comes back: the node enrols again on its own; the round it has seen is not re-announced.
            await coordinator.DisposeAsync();
            var enrolsBefore = audit.Count(r => r.Action == FederationClient.EnrolAction);
            coordinator = (await StartCoordinatorAsync(scratch, coordinatorKit, database, port)).Host;
            audit = await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.EnrolAction && r.Sequence > round.Sequence);
            Assert.Equal(enrolsBefore + 1, audit.Count(r => r.Action == FederationClient.EnrolAction));
            await Task.Delay(500);
            Assert.Equal(3, await new AuditTrail(node.DatabaseConnectionString).ReadAsync(DateTimeOffset.MinValue).CountAsync(r => r.Action == FederationClient.RoundAction));
        }
        finally
        {
            await coordinator.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_node_whose_coordinator_is_unreachable_keeps_serving_and_audits_the_outage_once()
    {
        using var scratch = new Scratch("gct-fedclient");
        Ca(scratch, out _, out var nodeKit);
        var closedPort = FreePort();

        await using var node = await StartNodeAsync(scratch, nodeKit, new Uri($"https://localhost:{closedPort}"));

        var audit = await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.ConnectAction);
        await Task.Delay(1500); // several retries at 0.2–1 s backoff
        using var channel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, node.Certificate);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcClientChannels.CheckHealthAsync(channel));
        audit = await new AuditTrail(node.DatabaseConnectionString).ReadAsync(DateTimeOffset.MinValue).ToListAsync();
        var outage = Assert.Single(audit, r => r.Action == FederationClient.ConnectAction);
        Assert.Equal("failure", outage.Outcome);
        Assert.Contains("Unavailable", outage.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(audit, r => r.Action == FederationClient.EnrolAction);
    }

    [Fact]
    public async Task A_kit_that_is_not_a_node_kit_stops_the_start_naming_the_key()
    {
        using var scratch = new Scratch("gct-fedclient");
        Ca(scratch, out var coordinatorKit, out _);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => StartNodeAsync(scratch, coordinatorKit, new Uri("https://localhost:1")));
        Assert.Contains("Node:Federation:Kit", e.Message, StringComparison.Ordinal);
        Assert.Contains("coordinator kit", e.Message, StringComparison.Ordinal);
    }
}
