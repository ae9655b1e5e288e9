using GenerateCT.Coordinator;
using GenerateCT.Hosting;
using GenerateCT.Testing;
using Grpc.Health.V1;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Coordinator.Tests;

public class CoordinatorHostTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Coordinator_on_a_configured_database_migrates_it_and_answers_health_over_tls()
    {
        var dir = Scratch.NewDirectory("gct-coord");
        var cs = await postgres.CreateDatabaseAsync();
        try
        {
            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Coordinator:DataDirectory"] = dir,
                ["Coordinator:GrpcPort"] = "0",
                ["Coordinator:GrpcAddress"] = "127.0.0.1",
                ["Coordinator:ConnectionString"] = cs,
            }).Build();
            await using var coordinator = await CoordinatorHost.StartAsync(config);
            using var channel = GrpcClientChannels.ForPinnedServer(coordinator.GrpcAddress, coordinator.Certificate);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcClientChannels.CheckHealthAsync(channel));
            Assert.False(Directory.Exists(Path.Combine(dir, "postgres")), "a configured database means no embedded cluster");

            await using var db = GenerateCT.Data.DatabaseSchema.CreateCoordinatorDb(cs);
            Assert.Equal(0, db.Nodes.Count());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Coordinator_project_cannot_see_patient_data_types()
    {
        var referenced = typeof(CoordinatorHost).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToHashSet();
        Assert.DoesNotContain("GenerateCT.Dicom", referenced);
        Assert.DoesNotContain("GenerateCT.Deid", referenced);
        Assert.DoesNotContain("GenerateCT.Imaging", referenced);
        Assert.Contains("GenerateCT.Hosting", referenced); // the shared gRPC host (formerly GenerateCT.Hosting)
    }
}
