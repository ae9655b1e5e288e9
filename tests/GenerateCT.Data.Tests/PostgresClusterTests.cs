using GenerateCT.Data;
using GenerateCT.Data.Coordinator;
using GenerateCT.Data.Node;
using GenerateCT.Testing;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace GenerateCT.Data.Tests;

public class PostgresClusterTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Node_migrations_apply_to_a_fresh_cluster_and_a_row_round_trips()
    {
        var cs = await postgres.CreateDatabaseAsync();
        await DatabaseSchema.MigrateNodeAsync(cs);

        var id = Guid.NewGuid();
        await using (var db = DatabaseSchema.CreateNodeDb(cs))
        {
            db.Series.Add(new IngestedSeries { Id = id, StudyKey = "st-1", SeriesKey = "se-1", InstanceCount = 3, CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync();
        }

        await using (var db = DatabaseSchema.CreateNodeDb(cs))
        {
            var row = await db.Series.SingleAsync(s => s.Id == id);
            Assert.Equal("se-1", row.SeriesKey);
            Assert.Equal(3, row.InstanceCount);
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            Assert.NotEmpty(await db.Database.GetAppliedMigrationsAsync());
        }
    }

    [Fact]
    public async Task Coordinator_migrations_apply_and_enforce_unique_certificates()
    {
        var cs = await postgres.CreateDatabaseAsync();
        await DatabaseSchema.MigrateCoordinatorAsync(cs);
        await using var db = DatabaseSchema.CreateCoordinatorDb(cs);
        db.Nodes.Add(new EnrolledNode { NodeId = "a", CertificateThumbprint = "T1", EnrolledAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync();
        db.Nodes.Add(new EnrolledNode { NodeId = "b", CertificateThumbprint = "T1", EnrolledAt = DateTimeOffset.UtcNow });
        var ex = await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        Assert.Contains("23505", (ex.InnerException as PostgresException)?.SqlState ?? "");
    }

    [Fact]
    public async Task A_cluster_keeps_its_data_across_a_restart_and_refuses_a_wrong_password()
    {
        var dir = Scratch.NewDirectory("gct-pg-restart");
        try
        {
            string cs;
            await using (var first = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = dir }))
            {
                cs = first.ConnectionString;
                await DatabaseSchema.MigrateNodeAsync(cs);
                await using var db = DatabaseSchema.CreateNodeDb(cs);
                db.Series.Add(new IngestedSeries { Id = Guid.NewGuid(), StudyKey = "s", SeriesKey = "kept", CreatedAt = DateTimeOffset.UtcNow });
                await db.SaveChangesAsync();
            }

            await using var second = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = dir });
            await using (var db = DatabaseSchema.CreateNodeDb(second.ConnectionString))
            {
                Assert.True(await db.Series.AnyAsync(s => s.SeriesKey == "kept"));
            }

            var wrong = new NpgsqlConnectionStringBuilder(second.ConnectionString) { Password = "wrong" }.ConnectionString;
            await using var conn = new NpgsqlConnection(wrong);
            var ex = await Assert.ThrowsAsync<PostgresException>(() => conn.OpenAsync());
            Assert.Equal("28P01", ex.SqlState);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
