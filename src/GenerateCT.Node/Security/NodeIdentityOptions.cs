using GenerateCT.Hosting;

namespace GenerateCT.Node.Security;

/// <summary>
/// Section "Node:Identity": the identity provider whose access tokens the node accepts. The
/// section is handed to Microsoft.Identity.Web as is (its keys: Instance, TenantId, ClientId,
/// Audience, Authority, …); only the keys below are checked here, plus
/// <see cref="IssuerCaCertificatePath"/>, which is ours.
/// </summary>
public sealed class NodeIdentityOptions
{
    public const string Section = NodeOptions.Section + ":Identity";

    /// <summary>e.g. https://login.microsoftonline.com/ (Entra ID).</summary>
    public string? Instance { get; set; }

    /// <summary>Directory (tenant) ID of the hospital's Entra ID.</summary>
    public string? TenantId { get; set; }

    /// <summary>Application (client) ID of the node's app registration; tokens must be issued for it.</summary>
    public string? ClientId { get; set; }

    /// <summary>Full authority instead of Instance + TenantId, for an OIDC provider that is not Entra ID.</summary>
    public string? Authority { get; set; }

    /// <summary>
    /// PEM file with the CA certificate(s) that issued the identity provider's HTTPS certificate, for
    /// providers inside the hospital whose certificates the system trust store does not know. The
    /// node then trusts these CAs (in addition to the system store) for discovery and signing-key
    /// downloads only.
    /// </summary>
    public string? IssuerCaCertificatePath { get; set; }

    /// <summary>True when an identity provider is configured; without one every call except health is refused.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(ClientId);

    public void Validate()
    {
        var anySet = new[] { Instance, TenantId, Authority, IssuerCaCertificatePath }.Any(v => !string.IsNullOrWhiteSpace(v));
        if (!IsConfigured)
        {
            if (anySet)
            {
                throw new ConfigurationException($"{Section}:ClientId", "must be set (the application ID of the node's app registration) when an identity provider is configured");
            }

            return;
        }

        if (string.IsNullOrWhiteSpace(Authority))
        {
            HttpsUri($"{Section}:Instance", Instance, "e.g. https://login.microsoftonline.com/ (or set Authority)");
            HostOptionsValidation.NotEmpty($"{Section}:TenantId", TenantId);
        }
        else
        {
            HttpsUri($"{Section}:Authority", Authority, "the issuer's base URL, e.g. https://idp.hospital.example/tenant/v2.0");
        }

        HostOptionsValidation.ExistingFile($"{Section}:IssuerCaCertificatePath", IssuerCaCertificatePath);
        _ = IssuerTrust.From(this); // a CA file without a certificate stops the start, not the first call
    }

    private static void HttpsUri(string key, string? value, string hint)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            throw new ConfigurationException(key, $"'{value}' is not an https URL ({hint})");
        }
    }
}

/// <summary>Section "Node:RateLimit": per-user limits on expensive calls (cohort submission, downloads, audit export).</summary>
public sealed class NodeRateLimitOptions
{
    /// <summary>Calls one user may make to one expensive method per minute; more are refused with ResourceExhausted.</summary>
    public int ExpensiveCallsPerMinute { get; set; } = 20;

    public void Validate()
    {
        if (ExpensiveCallsPerMinute < 1)
        {
            throw new ConfigurationException($"{NodeOptions.Section}:RateLimit:ExpensiveCallsPerMinute", $"{ExpensiveCallsPerMinute} must be at least 1");
        }
    }
}
