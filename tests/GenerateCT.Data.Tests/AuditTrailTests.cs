using System.Text.RegularExpressions;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Node;
using GenerateCT.Testing;
using Npgsql;

namespace GenerateCT.Data.Tests;

public class AuditTrailTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private async Task<(string Owner, string Service, string Dir)> NodeDatabaseAsync()
    {
        var owner = await postgres.CreateDatabaseAsync();
        await DatabaseSchema.MigrateNodeAsync(owner);
        var dir = Scratch.NewDirectory("gct-audit");
        var service = await NodeServiceRole.EnsureAsync(owner, Path.Combine(dir, "service.password"));
        return (owner, service, dir);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Concurrent_appends_form_one_dense_chain_that_verifies()
    {
        var (_, service, _) = await NodeDatabaseAsync();
        var trail = new AuditTrail(service);
        await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
            trail.AppendAsync(new AuditEntry($"user{i % 3}", "grpc:/x/Y", "success", $"{{\"i\": {i}, \"a\": [1, 2]}}"))));

        var rows = await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync();
        Assert.Equal(Enumerable.Range(1, 24).Select(i => (long)i), rows.Select(r => r.Sequence));
        Assert.Equal(AuditChain.Genesis, rows[0].PreviousHash);
        for (var i = 1; i < rows.Count; i++)
        {
            Assert.Equal(rows[i - 1].Hash, rows[i].PreviousHash);
        }

        var verification = await trail.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
        Assert.Equal(24, verification.RowsChecked);
        Assert.Equal(rows[^1].Hash, verification.HeadHash);
    }

    [Fact]
    public async Task Json_detail_and_timestamps_are_hashed_as_stored()
    {
        var (_, service, _) = await NodeDatabaseAsync();
        var clock = new FixedClock(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567));
        var trail = new AuditTrail(service, clock);
        var appended = await trail.AppendAsync(new AuditEntry("alice", "grpc:/a/B", "success", "{ \"z\" : 1,   \"a\" : \"x\" }"));

        Assert.Equal(0, appended.OccurredAt.Ticks % 10);
        var stored = Assert.Single(await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync());
        Assert.Equal(appended.OccurredAt, stored.OccurredAt);
        Assert.Equal(appended.Detail, stored.Detail);
        Assert.Equal(appended.Hash, stored.Hash);
        Assert.True((await trail.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task A_row_altered_by_the_database_owner_is_reported_as_the_first_broken_link()
    {
        var (owner, service, _) = await NodeDatabaseAsync();
        var trail = new AuditTrail(service);
        for (var i = 0; i < 5; i++)
        {
            await trail.AppendAsync(new AuditEntry("alice", $"grpc:/a/M{i}", "success"));
        }

        await ExecuteAsync(owner, "UPDATE audit_events SET \"Outcome\" = 'success', \"Actor\" = 'mallory' WHERE \"Id\" = 3");

        var verification = await trail.VerifyAsync();
        Assert.False(verification.Intact);
        Assert.Equal(3, verification.FirstBrokenRow);
        Assert.Contains("row 3 was altered", verification.Problem);
    }

    [Fact]
    public async Task A_row_deleted_by_the_database_owner_is_detected()
    {
        var (owner, service, _) = await NodeDatabaseAsync();
        var trail = new AuditTrail(service);
        for (var i = 0; i < 5; i++)
        {
            await trail.AppendAsync(new AuditEntry("alice", $"grpc:/a/M{i}", "success"));
        }

        await ExecuteAsync(owner, "DELETE FROM audit_events WHERE \"Id\" = 2");

        var verification = await trail.VerifyAsync();
        Assert.False(verification.Intact);
        Assert.Equal(3, verification.FirstBrokenRow);
        Assert.Contains("row 2 is missing", verification.Problem);

        // Renumbering to hide the gap does not help: the links no longer match.
        await ExecuteAsync(owner, "UPDATE audit_events SET \"Id\" = \"Id\" - 1 WHERE \"Id\" > 2");
        verification = await trail.VerifyAsync();
        Assert.Equal(2, verification.FirstBrokenRow);
        Assert.False(verification.Intact);
    }

    [Fact]
    public async Task The_service_role_can_append_but_cannot_update_delete_or_truncate_audit_rows()
    {
        var (owner, service, dir) = await NodeDatabaseAsync();
        await new AuditTrail(service).AppendAsync(new AuditEntry("alice", "grpc:/a/B", "success"));

        foreach (var sql in new[]
        {
            "UPDATE audit_events SET \"Actor\" = 'mallory'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
            "DROP TABLE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        })
        {
            var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(service, sql));
            Assert.True(ex.SqlState is PostgresErrorCodes.InsufficientPrivilege, $"{sql}: {ex.SqlState} {ex.MessageText}");
        }

        // Everything else the node needs still works as the service role.
        await ExecuteAsync(service, "INSERT INTO series (\"Id\", \"StudyKey\", \"SeriesKey\", \"InstanceCount\", \"State\", \"CreatedAt\") VALUES (gen_random_uuid(), 's', 'k', 1, 'receiving', now())");
        await ExecuteAsync(service, "UPDATE series SET \"InstanceCount\" = 2");
        await ExecuteAsync(service, "DELETE FROM series");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "service.password")));
        Assert.NotEqual(new NpgsqlConnectionStringBuilder(owner).Username, new NpgsqlConnectionStringBuilder(service).Username);

        // Idempotent: a second start keeps the same password and the same grants.
        var again = await NodeServiceRole.EnsureAsync(owner, Path.Combine(dir, "service.password"));
        Assert.Equal(service, again);
        await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(again, "DELETE FROM audit_events"));
    }

    [Fact]
    public async Task Syslog_export_lines_follow_rfc5424_with_user_action_and_outcome_as_structured_data()
    {
        var (_, service, _) = await NodeDatabaseAsync();
        var trail = new AuditTrail(service);
        await trail.AppendAsync(new AuditEntry("dr \"quote\" ]x", "grpc:/generatect.admin.v1.NodeAdmin/GetStatus", "denied", "{\"status\":\"PermissionDenied\"}"));
        var record = Assert.Single(await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync());

        var line = AuditExport.ToSyslog(record, "node-1");
        var rfc5424 = new Regex("""^<85>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) node-1 generatect-node - GRPC \[gct-audit@32473 seq="1" user="dr \\"quote\\" \\]x" action="grpc:/generatect\.admin\.v1\.NodeAdmin/GetStatus" outcome="denied" prevHash="0{64}" hash="[0-9a-f]{64}"\] \{"status": "PermissionDenied"\}$""");
        Assert.Matches(rfc5424, line);

        var json = System.Text.Json.JsonDocument.Parse(AuditExport.ToJson(record)).RootElement;
        Assert.Equal("denied", json.GetProperty("outcome").GetString());
        Assert.Equal("PermissionDenied", json.GetProperty("detail").GetProperty("status").GetString());
        Assert.Equal(Convert.ToHexStringLower(record.Hash), json.GetProperty("hash").GetString());
    }

    [Fact]
    public async Task A_second_start_on_a_running_cluster_attaches_and_leaves_it_running()
    {
        var dir = Scratch.NewDirectory("gct-pg-attach");
        try
        {
            await using var first = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = dir });
            Assert.False(first.IsAttached);
            await using (var second = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = dir, DeleteOnDispose = true }))
            {
                Assert.True(second.IsAttached);
                Assert.Equal(first.Port, second.Port);
                await ExecuteAsync(second.ConnectionString, "CREATE TABLE attached_ok (x int)");
            }

            // The first owner's server is still up and the data is still there.
            await ExecuteAsync(first.ConnectionString, "INSERT INTO attached_ok VALUES (1)");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
