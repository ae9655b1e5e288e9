using System.Security.Claims;

namespace GenerateCT.Node.Security;

/// <summary>Who made a call, as the audit trail and the rate limiter name them (claims as Entra ID v2 tokens carry them).</summary>
internal static class CallerIdentity
{
    public const string Anonymous = "anonymous";

    /// <summary>Readable name for the audit trail: preferred_username, upn, name, then subject.</summary>
    public static string Name(ClaimsPrincipal user) =>
        First(user, "preferred_username", "upn", "name", "sub", "oid") ?? Anonymous;

    /// <summary>Stable key for per-user limits: tenant + object ID (Entra ID), else issuer subject.</summary>
    public static string Key(ClaimsPrincipal user) =>
        (First(user, "tid") ?? "") + "/" + (First(user, "oid", "sub") ?? Name(user));

    public static string? ObjectId(ClaimsPrincipal user) => First(user, "oid", "sub");

    public static string? TenantId(ClaimsPrincipal user) => First(user, "tid");

    private static string? First(ClaimsPrincipal user, params string[] types)
    {
        foreach (var type in types)
        {
            var value = user.FindFirst(type)?.Value;
            if (!string.IsNullOrWhiteSpace(value))
            {
                return value;
            }
        }

        return null;
    }
}
