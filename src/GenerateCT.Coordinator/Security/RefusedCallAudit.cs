using System.Security.Claims;
using System.Text.Json;
using GenerateCT.Data.Audit;
using GenerateCT.Federation.Pki;
using Grpc.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;

namespace GenerateCT.Coordinator.Security;

/// <summary>
/// Records in the coordinator's audit trail every call refused before it reaches gRPC: a missing,
/// unknown-CA, expired or revoked client certificate (Unauthenticated), and a valid certificate of
/// the wrong role (PermissionDenied). The row names the certificate presented (subject, serial,
/// fingerprint) and why it was refused.
/// </summary>
internal sealed class RefusedCallAudit(AuditTrail trail) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Challenged || authorizeResult.Forbidden)
        {
            await trail.AppendAsync(await EntryAsync(context, authorizeResult.Forbidden), CancellationToken.None);
        }

        await _default.HandleAsync(next, context, policy, authorizeResult);
    }

    private static async Task<AuditEntry> EntryAsync(HttpContext context, bool forbidden)
    {
        var certificate = context.Connection.ClientCertificate;
        var detail = new Dictionary<string, object?>
        {
            ["status"] = (forbidden ? StatusCode.PermissionDenied : StatusCode.Unauthenticated).ToString(),
            ["peer"] = context.Connection.RemoteIpAddress?.ToString(),
            ["subject"] = certificate?.Subject,
            ["serial"] = certificate?.SerialNumber,
            ["sha256"] = certificate is null ? null : CertificateFingerprint.Sha256(certificate),
        };
        if (forbidden)
        {
            detail["refusal"] = "wrong-role";
            detail["reason"] = $"a certificate with OU={context.User.FindFirstValue(ClaimTypes.Role)} may not call this method";
        }
        else
        {
            // The handler caches its result per request: asking again does not validate twice.
            var failure = (await context.AuthenticateAsync()).Failure;
            detail["refusal"] = failure is FederationCertificateRefusedException refused ? Kebab(refused.Kind) : "unauthenticated";
            detail["reason"] = failure?.Message ?? "not authenticated";
        }

        var actor = certificate?.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, false) is { Length: > 0 } cn
            ? cn
            : context.Connection.RemoteIpAddress?.ToString() ?? "anonymous";
        return new AuditEntry(actor, "grpc:" + context.Request.Path.Value, "denied", JsonSerializer.Serialize(detail));
    }

    /// <summary>UnknownCa → "unknown-ca".</summary>
    private static string Kebab(PeerRefusal kind) => kind switch
    {
        PeerRefusal.NoCertificate => "no-certificate",
        PeerRefusal.UnknownCa => "unknown-ca",
        PeerRefusal.Expired => "expired",
        PeerRefusal.Revoked => "revoked",
        PeerRefusal.WrongUsage => "wrong-usage",
        PeerRefusal.RevocationListUnavailable => "revocation-list-unavailable",
        _ => "unauthenticated",
    };
}
