using GenerateCT.Admin.V1;
using GenerateCT.Coordinator;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.Weights;
using GenerateCT.Hosting;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Node.Federation;
using GenerateCT.Node.Training;
using GenerateCT.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ModelStage = GenerateCT.Model.Training.ModelStage;
using WireStage = GenerateCT.Federation.V1.ModelStage;

namespace GenerateCT.Node.Tests;

/// <summary>A node takes part in a real round over mutual TLS: download, local steps, delta upload, metrics, the new global version.</summary>
[Collection(TrainingNodeCollection.Name)]
public class FederatedRoundTests(TrainingNodeFixture fixture, PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static async Task<List<AuditRecord>> WaitForAuditAsync(string connectionString, Func<AuditRecord, bool> wanted, int seconds = 90)
    {
        var trail = new AuditTrail(connectionString);
        for (var i = 0; i < seconds * 10; i++)
        {
            var records = await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync();
            if (records.Any(wanted))
            {
                return records;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the awaited audit record did not appear in {seconds} s");
    }

    private static long VersionOf(AuditRecord record)
    {
        using var detail = System.Text.Json.JsonDocument.Parse(record.Detail!);
        return detail.RootElement.TryGetProperty("version", out var version) ? version.GetInt64() : -1;
    }

    [Fact]
    public async Task An_approved_maskgit_round_is_trained_uploaded_aggregated_and_its_result_installed_and_activated_on_the_node()
    {
        using var scratch = new Scratch("gct-fedround");
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        var coordinatorKit = ca.Issue(SiteRole.Coordinator, "localhost").Kit;
        var nodeKit = ca.Issue(SiteRole.Node, "alpha").Kit;
        using var operatorKit = StartupKit.Load(ca.Issue(SiteRole.Operator, "ops-anna").Kit);
        var database = await postgres.CreateDatabaseAsync();
        await using var coordinator = await CoordinatorHost.StartAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coordinator:DataDirectory"] = scratch.Combine("coordinator"),
            ["Coordinator:GrpcPort"] = "0",
            ["Coordinator:GrpcAddress"] = "127.0.0.1",
            ["Coordinator:ConnectionString"] = database,
            ["Coordinator:Pki:Kit"] = coordinatorKit,
            ["Coordinator:RoundCheckMilliseconds"] = "100",
        }).Build());

        var extra = TestNodeConfiguration.Trusting(fixture.Issuer, fixture.ClientId);
        foreach (var (key, value) in TrainingNodeFixture.NodeConfiguration(fixture.Bundle))
        {
            extra[key] = value;
        }

        extra["Node:Federation:Kit"] = nodeKit;
        extra["Node:Federation:Coordinator"] = coordinator.GrpcAddress.ToString();
        extra["Node:Federation:ReconnectSeconds"] = "0.2";
        extra["Node:Federation:MaxReconnectSeconds"] = "1";
        await using var node = await NodeHost.StartAsync(TestNodeConfiguration.Create(scratch.Combine("node"), extra));
        await TrainingNodeFixture.PushAsync(node, [], [[FindingKind.Cardiomegaly], [FindingKind.PleuralEffusion], []], seed: 400);
        await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.EnrolAction);

        using var channel = operatorKit.CreateCoordinatorChannel(coordinator.GrpcAddress);
        var ops = new GenerateCT.Federation.Operator.V1.Operator.OperatorClient(channel);
        async Task<long> RegisterAsync(WeightSet weights)
        {
            using var register = ops.RegisterModel();
            await register.RequestStream.WriteAsync(new RegisterModelMessage { Header = new RegisterModelHeader { Label = "base" } });
            await register.RequestStream.WriteAsync(new RegisterModelMessage { Stage = WireStage.Maskgit });
            foreach (var chunk in ChunkWriter.Chunks(weights, 64 * 1024))
            {
                await register.RequestStream.WriteAsync(new RegisterModelMessage { Chunk = chunk });
            }

            await register.RequestStream.CompleteAsync();
            return (await register).Version;
        }

        await node.Services.GetRequiredService<StageApprovals>().SetAsync(ModelStage.MaskGit, approved: true, "steward@hospital.example", CancellationToken.None);

        // A base version whose layout is not this node's MaskGIT: the round fails with the reason, and the client goes on.
        var foreign = await RegisterAsync(new WeightSet([new WeightTensor("w", [2, 2], [1f, 2f, 3f, 4f])]));
        Assert.Equal(1, foreign);
        await ops.StartRoundAsync(new StartRoundRequest { Stage = WireStage.Maskgit, BaseVersion = foreign, LocalSteps = 2, LearningRate = 1e-3, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 120 });
        var failed = (await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.RoundAction)).Single(r => r.Action == FederationClient.RoundAction);
        Assert.Equal("failure", failed.Outcome);
        Assert.Contains("do not fit this node's bundle", failed.Detail, StringComparison.Ordinal);

        var baseWeights = BundleWeights.ReadStage(fixture.Bundle, ModelStage.MaskGit);
        Assert.Equal(2, await RegisterAsync(baseWeights));
        await ops.StartRoundAsync(new StartRoundRequest { Stage = WireStage.Maskgit, BaseVersion = 2, LocalSteps = 2, LearningRate = 1e-3, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 120 });

        var audit = await WaitForAuditAsync(node.DatabaseConnectionString, r => r.Action == GlobalVersions.InstallAction && VersionOf(r) == 3);
        var round = Assert.Single(audit, r => r.Action == FederationClient.RoundAction && r.Sequence > failed.Sequence);
        Assert.Equal("success", round.Outcome);
        Assert.Contains("uploaded", round.Detail, StringComparison.Ordinal);
        Assert.Equal("success", Assert.Single(audit, r => r.Action == RoundParticipation.UploadAction).Outcome);
        Assert.Contains(audit, r => r.Action == RoundParticipation.DownloadAction && VersionOf(r) == 2);
        // The round's base (version 2, announced by the round) and its result (version 3) are installed; the foreign version 1 is not.
        Assert.Equal([2L, 3L], audit.Where(r => r.Action == GlobalVersions.InstallAction && r.Outcome == "success").Select(VersionOf).Order());

        // The federated job trained from the round's base and its result differs from it.
        await using (var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString))
        {
            var job = await db.TrainingJobs.SingleAsync();
            Assert.Equal((TrainingOrigins.Federated, "2-maskgit", "succeeded", 2), (job.Origin, job.RoundKey, job.State, job.Steps));
        }

        // The coordinator aggregated the node's update into version 2.
        await using (var db = DatabaseSchema.CreateCoordinatorDb(database))
        {
            Assert.Single(await db.RoundUpdates.ToListAsync());

            // Only allow-listed scalars reached it (MaskGIT's masked_accuracy as masked_token_accuracy).
            var names = await db.RoundMetrics.Where(m => m.NodeId == "alpha").Select(m => m.Name).ToListAsync();
            Assert.Contains("loss", names);
            Assert.All(names, n => Assert.Contains(n, RoundMetrics.Allowed));
        }

        var versions = (await ops.ListModelsAsync(new GenerateCT.Federation.Operator.V1.ListModelsRequest())).Versions;
        Assert.Contains(versions, v => v.Version == 3);

        // Installed as global-v3: listed by ListModels; Admin activates it.
        var installedWeights = BundleWeights.ReadStage(node.Services.GetRequiredService<GlobalVersions>().Find("global-v3")!.Directory, ModelStage.MaskGit);
        Assert.NotEqual(baseWeights.ComputeVersionId(), installedWeights.ComputeVersionId());
        using var adminChannel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, node.Certificate);
        var admin = new NodeAdmin.NodeAdminClient(adminChannel);
        var asAdmin = fixture.Call(fixture.As(Security.NodeRoles.Admin, "it@hospital.example"));
        Assert.Contains((await admin.ListModelsAsync(new GenerateCT.Admin.V1.ListModelsRequest(), asAdmin)).Models, m => m.Name == "global-v3" && m.Origin == "global");
        Assert.Contains((await admin.ListModelsAsync(new GenerateCT.Admin.V1.ListModelsRequest(), asAdmin)).Models, m => m.Name == "global-v2" && m.Origin == "global");
        Assert.DoesNotContain((await admin.ListModelsAsync(new GenerateCT.Admin.V1.ListModelsRequest(), asAdmin)).Models, m => m.Name == "global-v1");
        var activated = await admin.ActivateModelAsync(new ActivateModelRequest { Name = "global-v3" }, fixture.Call(fixture.As(Security.NodeRoles.Admin, "it@hospital.example")));
        Assert.True(activated.Active);
        Assert.Equal(["global-v3"], (await admin.ListModelsAsync(new GenerateCT.Admin.V1.ListModelsRequest(), fixture.Call(fixture.As(Security.NodeRoles.Admin, "it@hospital.example")))).Models.Where(m => m.Active).Select(m => m.Name));
    }
}
