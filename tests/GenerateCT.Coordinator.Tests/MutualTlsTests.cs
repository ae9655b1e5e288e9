using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.V1;
using GenerateCT.Hosting;
using GenerateCT.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace GenerateCT.Coordinator.Tests;

/// <summary>
/// The coordinator over real sockets: mutual TLS with certificates of a federation CA made by
/// <see cref="FederationCa"/>, real gRPC, real PostgreSQL, the coordinator's real audit trail.
/// </summary>
public class MutualTlsTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static readonly EnrolRequest AlphaEnrolment = new() { NodeSoftwareVersion = "0.9.1", Device = "cpu", TrainingSamples = 42 };

    [Fact]
    public async Task A_node_certificate_enrols_and_the_node_is_its_certificate()
    {
        using var scratch = new Scratch("gct-mtls");
        var federation = Federation.Create(scratch);
        await using var coordinator = await StartAsync(scratch, federation.CoordinatorKit);

        using var kit = StartupKit.Load(federation.Ca.Issued.Single(c => c.Name == "alpha").Kit);
        using var channel = kit.CreateCoordinatorChannel(coordinator.Host.GrpcAddress);
        var reply = await new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel).EnrolAsync(AlphaEnrolment);

        Assert.Equal("alpha", reply.NodeId);
        Assert.Equal("hospital-net", reply.FederationId);
        await using (var db = DatabaseSchema.CreateCoordinatorDb(coordinator.ConnectionString))
        {
            var node = await db.Nodes.SingleAsync();
            Assert.Equal("alpha", node.NodeId);
            Assert.Equal(CertificateFingerprint.Sha256(kit.Certificate), node.CertificateThumbprint);
            Assert.Equal(kit.Certificate.SerialNumber, node.CertificateSerial);
            Assert.Equal(("0.9.1", "cpu", 42L), (node.SoftwareVersion, node.Device, node.TrainingSamples));
            Assert.NotNull(node.LastSeenAt);
        }

        // Health stays anonymous: a client with no certificate (pinning the server) still gets an answer.
        using var anonymous = GrpcClientChannels.ForPinnedServer(coordinator.Host.GrpcAddress, coordinator.Host.Certificate);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcClientChannels.CheckHealthAsync(anonymous));

        var audit = await AuditAsync(coordinator.ConnectionString);
        Assert.Equal("coordinator:start", audit[0].Action);
        var enrol = Assert.Single(audit, r => r.Action == "federation:enrol");
        Assert.Equal(("alpha", "success"), (enrol.Actor, enrol.Outcome));
        Assert.Contains(CertificateFingerprint.Sha256(kit.Certificate), enrol.Detail);
        Assert.True((await new AuditTrail(coordinator.ConnectionString).VerifyAsync()).Intact);

        // The coordinator's services run as a role that may append audit rows but never change them.
        await using var service = new NpgsqlConnection(coordinator.Host.ServiceConnectionString);
        await service.OpenAsync();
        Assert.NotEqual(new NpgsqlConnectionStringBuilder(coordinator.ConnectionString).Username, new NpgsqlConnectionStringBuilder(coordinator.Host.ServiceConnectionString).Username);
        foreach (var sql in new[] { "UPDATE audit_events SET \"Outcome\" = 'success'", "DELETE FROM audit_events", "TRUNCATE audit_events" })
        {
            await using var command = new NpgsqlCommand(sql, service);
            var denied = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        }
    }

    [Fact]
    public async Task Unknown_ca_expired_and_missing_certificates_are_refused_and_audited()
    {
        using var scratch = new Scratch("gct-mtls");
        var federation = Federation.Create(scratch);
        await using var coordinator = await StartAsync(scratch, federation.CoordinatorKit);

        // The same node name from another CA.
        var rogue = FederationCa.Initialize(scratch.Combine("rogue-ca"), "hospital-net");
        rogue.Issue(SiteRole.Coordinator, "localhost");
        using var rogueKit = StartupKit.Load(rogue.Issue(SiteRole.Node, "alpha").Kit);
        // A certificate of the federation CA whose validity ended 29 days ago.
        using var expiredKit = StartupKit.Load(FederationCa.Open(federation.Ca.Directory, new FixedClock(DateTimeOffset.UtcNow.AddDays(-30))).Issue(SiteRole.Node, "stale", validityDays: 1).Kit);
        Assert.True(expiredKit.Certificate.NotAfter.ToUniversalTime() < DateTime.UtcNow);

        var unknown = await RefusedAsync(() => EnrolWith(coordinator, rogueKit.Certificate));
        var expired = await RefusedAsync(() => EnrolWith(coordinator, expiredKit.Certificate));
        var none = await RefusedAsync(() => EnrolWith(coordinator, clientCertificate: null));

        Assert.Equal([StatusCode.Unauthenticated, StatusCode.Unauthenticated, StatusCode.Unauthenticated], [unknown, expired, none]);
        await using (var db = DatabaseSchema.CreateCoordinatorDb(coordinator.ConnectionString))
        {
            Assert.Empty(await db.Nodes.ToListAsync());
        }

        var denied = (await AuditAsync(coordinator.ConnectionString)).Where(r => r.Outcome == "denied").ToList();
        Assert.Equal(["unknown-ca", "expired", "no-certificate"], denied.Select(Refusal));
        Assert.All(denied, r => Assert.Equal("grpc:/generatect.federation.v1.Coordinator/Enrol", r.Action));
        Assert.Equal(CertificateFingerprint.Sha256(rogueKit.Certificate), Detail(denied[0], "sha256"));
        Assert.Equal(("stale", expiredKit.Certificate.SerialNumber), (denied[1].Actor, Detail(denied[1], "serial")));
        Assert.True((await new AuditTrail(coordinator.ConnectionString).VerifyAsync()).Intact);
    }

    [Fact]
    public async Task Revoking_a_node_while_the_coordinator_runs_refuses_its_next_call_on_the_same_channel()
    {
        using var scratch = new Scratch("gct-mtls");
        var federation = Federation.Create(scratch);
        await using var coordinator = await StartAsync(scratch, federation.CoordinatorKit);
        using var kit = StartupKit.Load(federation.Ca.Issued.Single(c => c.Name == "alpha").Kit);
        using var channel = kit.CreateCoordinatorChannel(coordinator.Host.GrpcAddress);
        var client = new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel);
        await client.EnrolAsync(AlphaEnrolment);

        // What `gct pki revoke --ca DIR --name alpha` does: the CA rewrites crl.pem, also in the coordinator's kit.
        FederationCa.Open(federation.Ca.Directory).RevokeName("alpha");

        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.EnrolAsync(AlphaEnrolment));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        var refused = Assert.Single(await AuditAsync(coordinator.ConnectionString), r => r.Outcome == "denied");
        Assert.Equal(("alpha", "revoked"), (refused.Actor, Refusal(refused)));

        // A renewed certificate for the same node enrols again; its row now names the new certificate.
        using var renewed = StartupKit.Load(FederationCa.Open(federation.Ca.Directory).Issue(SiteRole.Node, "alpha").Kit);
        using var renewedChannel = renewed.CreateCoordinatorChannel(coordinator.Host.GrpcAddress);
        Assert.Equal("alpha", (await new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(renewedChannel).EnrolAsync(AlphaEnrolment)).NodeId);
        await using var db = DatabaseSchema.CreateCoordinatorDb(coordinator.ConnectionString);
        var node = await db.Nodes.SingleAsync();
        Assert.Equal((renewed.Certificate.SerialNumber, CertificateFingerprint.Sha256(renewed.Certificate)), (node.CertificateSerial, node.CertificateThumbprint));
    }

    [Fact]
    public async Task An_operator_certificate_is_not_accepted_as_a_node()
    {
        using var scratch = new Scratch("gct-mtls");
        var federation = Federation.Create(scratch);
        await using var coordinator = await StartAsync(scratch, federation.CoordinatorKit);
        using var kit = StartupKit.Load(federation.Ca.Issue(SiteRole.Operator, "ops-anna").Kit);
        Assert.Equal(SiteRole.Operator, kit.Role);

        using var channel = kit.CreateCoordinatorChannel(coordinator.Host.GrpcAddress);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel).EnrolAsync(AlphaEnrolment));

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        var refused = Assert.Single(await AuditAsync(coordinator.ConnectionString), r => r.Outcome == "denied");
        Assert.Equal(("ops-anna", "wrong-role"), (refused.Actor, Refusal(refused)));
    }

    [Fact]
    public async Task A_node_kit_refuses_a_coordinator_whose_certificate_is_not_the_federations()
    {
        using var scratch = new Scratch("gct-mtls");
        var federation = Federation.Create(scratch);
        // No kit: the coordinator serves a self-signed certificate, health only.
        await using var coordinator = await StartAsync(scratch, kit: null);
        using var kit = StartupKit.Load(federation.Ca.Issued.Single(c => c.Name == "alpha").Kit);

        using var channel = kit.CreateCoordinatorChannel(coordinator.Host.GrpcAddress);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel).EnrolAsync(AlphaEnrolment));
        // The node's side ends the TLS handshake: the server certificate does not chain to the federation CA.
        Assert.Contains(Causes(e.Status.DebugException), c => c is System.Security.Authentication.AuthenticationException);

        // And a coordinator without a kit refuses every federation call, while health answers.
        Assert.Equal(StatusCode.Unauthenticated, await RefusedAsync(() => EnrolWith(coordinator, kit.Certificate)));
        using var anonymous = GrpcClientChannels.ForPinnedServer(coordinator.Host.GrpcAddress, coordinator.Host.Certificate);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcClientChannels.CheckHealthAsync(anonymous));
    }

    [Fact]
    public async Task A_missing_kit_stops_the_start_naming_the_key()
    {
        using var scratch = new Scratch("gct-mtls");
        var e = await Assert.ThrowsAsync<ConfigurationException>(() => StartAsync(scratch, scratch.Combine("no-such-kit"), connectionString: "Host=/nonexistent"));
        Assert.Equal("Coordinator:Pki:Kit", e.Key);
    }

    private sealed record Running(CoordinatorHost Host, string ConnectionString) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    private async Task<Running> StartAsync(Scratch scratch, string? kit, string? connectionString = null)
    {
        connectionString ??= await postgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Coordinator:DataDirectory"] = scratch.Combine("coordinator"),
            ["Coordinator:GrpcPort"] = "0",
            ["Coordinator:GrpcAddress"] = "127.0.0.1",
            ["Coordinator:ConnectionString"] = connectionString,
            ["Coordinator:Pki:Kit"] = kit,
        };
        var host = await CoordinatorHost.StartAsync(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return new Running(host, connectionString);
    }

    /// <summary>Enrols presenting <paramref name="clientCertificate"/> (or none), trusting the coordinator's own certificate.</summary>
    private static async Task EnrolWith(Running coordinator, X509Certificate2? clientCertificate)
    {
        var expected = coordinator.Host.Certificate.GetCertHash(HashAlgorithmName.SHA256);
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHash(HashAlgorithmName.SHA256).AsSpan().SequenceEqual(expected);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }

        using var channel = GrpcChannel.ForAddress(coordinator.Host.GrpcAddress, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        await new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel).EnrolAsync(AlphaEnrolment);
    }

    private static IEnumerable<Exception> Causes(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    private static async Task<StatusCode> RefusedAsync(Func<Task> call) => (await Assert.ThrowsAsync<RpcException>(call)).StatusCode;

    private static async Task<List<AuditRecord>> AuditAsync(string connectionString)
    {
        var rows = new List<AuditRecord>();
        await foreach (var row in new AuditTrail(connectionString).ReadAsync(DateTimeOffset.UnixEpoch))
        {
            rows.Add(row);
        }

        return rows;
    }

    private static string? Detail(AuditRecord record, string name) =>
        JsonDocument.Parse(record.Detail!).RootElement.TryGetProperty(name, out var value) ? value.GetString() : null;

    private static string? Refusal(AuditRecord record) => Detail(record, "refusal");

    /// <summary>A CA made 30 days ago (so that it can also issue a certificate that has since expired), a coordinator kit for localhost and node alpha's kit.</summary>
    private sealed record Federation(FederationCa Ca, string CoordinatorKit)
    {
        public static Federation Create(Scratch scratch)
        {
            var dir = scratch.Combine("ca");
            FederationCa.Initialize(dir, "hospital-net", clock: new FixedClock(DateTimeOffset.UtcNow.AddDays(-30)));
            var ca = FederationCa.Open(dir);
            var coordinator = ca.Issue(SiteRole.Coordinator, "localhost");
            ca.Issue(SiteRole.Node, "alpha");
            return new Federation(ca, coordinator.Kit);
        }
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
