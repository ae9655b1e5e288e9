using System.Security.Claims;
using System.Text.Encodings.Web;
using GenerateCT.Federation.Pki;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Coordinator.Security;

/// <summary>
/// Authorization policies of the coordinator's gRPC methods; the role comes from the client
/// certificate's OU, so a node certificate can never act as an operator or the other way round.
/// </summary>
public static class FederationPolicies
{
    /// <summary>Node methods (Enrol, rounds, transfers): a certificate with OU=node.</summary>
    public const string Node = "federation-node";

    /// <summary>Operator methods (start rounds, status): a certificate with OU=operator.</summary>
    public const string Operator = "federation-operator";
}

/// <summary>Claims of an authenticated federation peer, beside <see cref="ClaimTypes.Name"/> (CN) and <see cref="ClaimTypes.Role"/> (OU).</summary>
public static class FederationClaims
{
    public const string Fingerprint = "gct:certificate-sha256";
    public const string Serial = "gct:certificate-serial";

    /// <summary>The peer an authenticated call's certificate proved; throws when the call is not authenticated by it.</summary>
    public static FederationPeer Peer(ClaimsPrincipal user)
    {
        var name = user.FindFirstValue(ClaimTypes.Name);
        var role = user.FindFirstValue(ClaimTypes.Role);
        var sha = user.FindFirstValue(Fingerprint);
        var serial = user.FindFirstValue(Serial);
        if (name is null || sha is null || serial is null || !SiteRoles.TryParse(role, out var siteRole))
        {
            throw new InvalidOperationException("the call is not authenticated by a federation certificate");
        }

        return new FederationPeer(name, siteRole, sha, serial);
    }
}

internal static class FederationAuthentication
{
    public const string Scheme = "FederationCertificate";

    public static void AddFederationAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication(Scheme).AddScheme<AuthenticationSchemeOptions, FederationCertificateHandler>(Scheme, null);
        services.AddAuthorization(o =>
        {
            o.AddPolicy(FederationPolicies.Node, p => p.RequireAuthenticatedUser().RequireRole(SiteRole.Node.Name()));
            o.AddPolicy(FederationPolicies.Operator, p => p.RequireAuthenticatedUser().RequireRole(SiteRole.Operator.Name()));
        });
    }
}

/// <summary>A refused client certificate, as the authentication result's failure (read back by the audit).</summary>
internal sealed class FederationCertificateRefusedException(PeerRefusal kind, string message) : Exception(message)
{
    public PeerRefusal Kind { get; } = kind;
}

/// <summary>
/// Authenticates every request by its TLS client certificate (<see cref="FederationTrust"/>: the
/// federation CA, validity, the revocation list as it is now), so a revocation applies to the next
/// call even on a connection opened before it. The principal is the certificate: CN, OU, fingerprint.
/// </summary>
internal sealed class FederationCertificateHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    CoordinatorPki pki)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (pki.Trust is not { } trust)
        {
            return Task.FromResult(AuthenticateResult.Fail(new FederationCertificateRefusedException(
                PeerRefusal.UnknownCa,
                "this coordinator has no federation PKI configured (set Coordinator:Pki:Kit)")));
        }

        var check = trust.Check(Context.Connection.ClientCertificate);
        if (check.Peer is not { } peer)
        {
            return Task.FromResult(AuthenticateResult.Fail(new FederationCertificateRefusedException(check.Kind, check.Refusal!)));
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, peer.Name),
                new Claim(ClaimTypes.Role, peer.Role.Name()),
                new Claim(FederationClaims.Fingerprint, peer.Sha256),
                new Claim(FederationClaims.Serial, peer.Serial),
            ],
            Scheme.Name,
            ClaimTypes.Name,
            ClaimTypes.Role);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }
}
