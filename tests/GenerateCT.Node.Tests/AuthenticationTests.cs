using System.Security.Cryptography;
using GenerateCT.Admin.V1;
using GenerateCT.Node.Security;
using Grpc.Core;

namespace GenerateCT.Node.Tests;

[Collection(SecuredNodeCollection.Name)]
public class AuthenticationTests(SecuredNodeFixture node)
{
    private NodeAdmin.NodeAdminClient Admin => new(node.Channel);

    private async Task<StatusCode> GetStatusWith(string token)
    {
        try
        {
            await Admin.GetStatusAsync(new StatusRequest(), SecuredNodeFixture.Bearer(token));
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    [Fact]
    public async Task A_valid_token_with_the_role_is_served_real_status_from_the_node()
    {
        var status = await Admin.GetStatusAsync(new StatusRequest(), SecuredNodeFixture.Bearer(node.Token(NodeRoles.Admin)));
        Assert.Equal(node.Node.Options.AeTitle, status.DicomAeTitle);
        Assert.Equal(node.Node.Options.DicomPort, status.DicomPort);
        Assert.False(status.DicomListenerUp);
        await using var db = GenerateCT.Data.DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        Assert.Equal(db.Series.LongCount(), status.Series);
        Assert.Equal(db.Quarantine.LongCount(), status.Quarantined);
        Assert.False(string.IsNullOrEmpty(status.Version));
    }

    [Fact]
    public async Task An_expired_token_is_unauthenticated()
    {
        var token = node.Token(node.Request(NodeRoles.Admin) with { Shift = TimeSpan.FromHours(-2) });
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith(token));
    }

    [Fact]
    public async Task A_token_for_another_audience_is_unauthenticated()
    {
        var token = node.Token(node.Request(NodeRoles.Admin) with { Audience = Guid.NewGuid().ToString() });
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith(token));
    }

    [Fact]
    public async Task A_token_from_another_issuer_is_unauthenticated()
    {
        var token = node.Token(node.Request(NodeRoles.Admin) with { Issuer = "https://127.0.0.1:9/" + node.Issuer.TenantId + "/v2.0" });
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith(token));
    }

    [Fact]
    public async Task A_token_with_a_forged_signature_is_unauthenticated()
    {
        using var forger = RSA.Create(2048);
        var token = node.Token(node.Request(NodeRoles.Admin) with { SignWith = forger });
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith(token));

        // Tampering with the payload of a genuine token breaks its signature too.
        var genuine = node.Token(NodeRoles.Researcher).Split('.');
        var payload = System.Text.Encoding.UTF8.GetString(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(genuine[1]))
            .Replace("\"Researcher\"", "\"Admin\"");
        genuine[1] = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(payload);
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith(string.Join('.', genuine)));
    }

    [Fact]
    public async Task A_garbage_or_missing_token_is_unauthenticated()
    {
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith("not-a-jwt"));
        var ex = await Assert.ThrowsAsync<RpcException>(() => Admin.GetStatusAsync(new StatusRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public async Task A_valid_token_without_the_methods_role_is_permission_denied()
    {
        Assert.Equal(StatusCode.PermissionDenied, await GetStatusWith(node.Token(NodeRoles.Researcher)));

        // A token with a scope but no app role is authenticated, and still lacks the role.
        Assert.Equal(StatusCode.PermissionDenied, await GetStatusWith(node.Token(node.Request() with { Scope = "access_as_user" })));
    }

    [Fact]
    public async Task A_token_with_neither_roles_nor_scopes_is_unauthenticated()
    {
        // Microsoft.Identity.Web refuses such tokens outright: the app is not provisioned for that caller.
        Assert.Equal(StatusCode.Unauthenticated, await GetStatusWith(node.Token()));
    }
}
