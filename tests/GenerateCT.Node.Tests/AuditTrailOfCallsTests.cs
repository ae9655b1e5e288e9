using GenerateCT.Admin.V1;
using GenerateCT.Data.Audit;
using GenerateCT.Generation.V1;
using GenerateCT.Node.Security;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Npgsql;

namespace GenerateCT.Node.Tests;

[Collection(SecuredNodeCollection.Name)]
public class AuditTrailOfCallsTests(SecuredNodeFixture node)
{
    private NodeAdmin.NodeAdminClient Admin => new(node.Channel);

    private async Task<List<AuditRecord>> RowsAsync() =>
        await new AuditTrail(node.Node.DatabaseConnectionString).ReadAsync(DateTimeOffset.MinValue).ToListAsync();

    [Fact]
    public async Task Every_authenticated_call_and_every_refusal_is_one_audit_row_with_user_method_and_outcome()
    {
        var user = $"carol-{Guid.NewGuid():N}@hospital.example";
        var before = await RowsAsync();

        await Admin.GetStatusAsync(new StatusRequest(), SecuredNodeFixture.Bearer(node.Token(node.Request(NodeRoles.Admin) with { User = user })));
        await Assert.ThrowsAsync<RpcException>(() => Admin.VerifyAuditAsync(new VerifyAuditRequest(), SecuredNodeFixture.Bearer(node.Token(node.Request(NodeRoles.Admin) with { User = user }))).ResponseAsync);
        await Assert.ThrowsAsync<RpcException>(() => new Generation.V1.Generation.GenerationClient(node.Channel)
            .SubmitCohortAsync(new CohortRequest { Prompts = { "" }, Count = 1 }, SecuredNodeFixture.Bearer(node.Token(node.Request(NodeRoles.Researcher) with { User = user }))).ResponseAsync);
        await Assert.ThrowsAsync<RpcException>(() => Admin.GetStatusAsync(new StatusRequest(), SecuredNodeFixture.Bearer(node.Token(node.Request(NodeRoles.Admin) with { User = user, Shift = TimeSpan.FromHours(-3) }))).ResponseAsync);

        var added = (await RowsAsync()).Skip(before.Count).ToList();
        var mine = added.Where(r => r.Actor == user).Select(r => (r.Action, r.Outcome)).ToList();
        Assert.Equal(
            [
                ("grpc:/generatect.admin.v1.NodeAdmin/GetStatus", "success"),
                ("grpc:/generatect.admin.v1.NodeAdmin/VerifyAudit", "denied"),
                ("grpc:/generatect.generation.v1.Generation/SubmitCohort", "failure"),
            ],
            mine);
        Assert.Contains("\"status\": \"InvalidArgument\"", added.Single(r => r.Actor == user && r.Action.EndsWith("SubmitCohort")).Detail);

        // The expired token identifies nobody: the refusal is recorded for "anonymous", with the reason.
        var expired = Assert.Single(added, r => r.Actor == "anonymous");
        Assert.Equal(("grpc:/generatect.admin.v1.NodeAdmin/GetStatus", "denied"), (expired.Action, expired.Outcome));
        Assert.Contains("SecurityTokenExpiredException", expired.Detail);
        Assert.Equal(4, added.Count);
    }

    [Fact]
    public async Task Expensive_calls_are_limited_per_user_with_resource_exhausted_and_audited()
    {
        var dave = node.Request(NodeRoles.Auditor) with { User = "dave@hospital.example" };
        var erin = node.Request(NodeRoles.Auditor) with { User = "erin@hospital.example" };

        async Task<StatusCode> ExportAs(TokenRequest who)
        {
            try
            {
                using var call = Admin.ExportAudit(new ExportAuditRequest { Format = "json" }, SecuredNodeFixture.Bearer(node.Token(who)));
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }

                return StatusCode.OK;
            }
            catch (RpcException e)
            {
                return e.StatusCode;
            }
        }

        for (var i = 0; i < SecuredNodeFixture.ExpensiveCallsPerMinute; i++)
        {
            Assert.Equal(StatusCode.OK, await ExportAs(dave));
        }

        Assert.Equal(StatusCode.ResourceExhausted, await ExportAs(dave));
        Assert.Equal(StatusCode.OK, await ExportAs(erin));

        // Cheap methods are not limited.
        for (var i = 0; i < SecuredNodeFixture.ExpensiveCallsPerMinute + 1; i++)
        {
            await Admin.VerifyAuditAsync(new VerifyAuditRequest(), SecuredNodeFixture.Bearer(node.Token(dave)));
        }

        var limited = (await RowsAsync()).Where(r => r.Actor == "dave@hospital.example" && r.Action.EndsWith("/ExportAudit")).ToList();
        Assert.Equal(["success", "success", "denied"], limited.Select(r => r.Outcome));
        Assert.Contains("ResourceExhausted", limited[^1].Detail);
    }

    [Fact]
    public async Task Auditors_verify_and_export_the_chain_over_grpc()
    {
        var auditor = SecuredNodeFixture.Bearer(node.Token(NodeRoles.Auditor));
        var verified = await Admin.VerifyAuditAsync(new VerifyAuditRequest(), auditor);
        Assert.True(verified.Intact, verified.Detail);
        Assert.True(verified.RowsChecked >= 1);
        Assert.Equal(0, verified.FirstBrokenRow);

        var lines = new List<string>();
        using (var call = Admin.ExportAudit(new ExportAuditRequest { Format = "syslog" }, SecuredNodeFixture.Bearer(node.Token(NodeRoles.Auditor))))
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                lines.Add(call.ResponseStream.Current.Line);
            }
        }

        Assert.StartsWith("<85>1 ", lines[0]);
        Assert.Contains("action=\"node:start\"", lines[0]);
        Assert.All(lines, l => Assert.Matches("^<85>1 \\S+ \\S+ generatect-node - \\S+ \\[gct-audit@32473 seq=\"\\d+\" user=\"", l));

        var bad = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = Admin.ExportAudit(new ExportAuditRequest { Format = "xml" }, SecuredNodeFixture.Bearer(node.Token(NodeRoles.Auditor)));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
    }

    [Fact]
    public async Task The_running_node_uses_a_role_that_cannot_update_or_delete_audit_rows()
    {
        Assert.NotEqual(
            new NpgsqlConnectionStringBuilder(node.Node.DatabaseConnectionString).Username,
            new NpgsqlConnectionStringBuilder(node.Node.ServiceConnectionString).Username);
        await using var conn = new NpgsqlConnection(node.Node.ServiceConnectionString);
        await conn.OpenAsync();
        foreach (var sql in new[] { "UPDATE audit_events SET \"Outcome\" = 'success'", "DELETE FROM audit_events" })
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            var ex = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
        }

        var passwordFile = NodeHost.ServiceRolePasswordFile(node.Node.Options.DataDirectory);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(passwordFile));
    }
}
