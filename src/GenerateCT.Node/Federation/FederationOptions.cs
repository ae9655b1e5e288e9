using GenerateCT.Federation.Pki;
using GenerateCT.Hosting;

namespace GenerateCT.Node.Federation;

/// <summary>
/// Section "Node:Federation": the node's startup kit (from `gct pki issue --node`). Unset = the node takes
/// no part in a federation and runs exactly as without one.
/// </summary>
public sealed class FederationOptions
{
    public const string Section = NodeOptions.Section + ":Federation";

    /// <summary>The node's startup kit directory (kit.json, ca.crt, site.crt, site.key 0600, crl.pem).</summary>
    public string? Kit { get; set; }

    /// <summary>Another coordinator address than the kit's (e.g. through a proxy); the coordinator's certificate is still checked.</summary>
    public string? Coordinator { get; set; }

    /// <summary>First wait before reconnecting after a refused or dropped connection; doubled per failure up to <see cref="MaxReconnectSeconds"/>.</summary>
    public double ReconnectSeconds { get; set; } = 2;

    public double MaxReconnectSeconds { get; set; } = 300;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Kit);

    public Uri? CoordinatorAddress => string.IsNullOrWhiteSpace(Coordinator) ? null : new Uri(Coordinator);

    public void Validate()
    {
        if (!IsConfigured)
        {
            return;
        }

        try
        {
            using var kit = StartupKit.Load(Kit!);
            if (kit.Role != SiteRole.Node)
            {
                throw new ConfigurationException($"{Section}:Kit", $"'{Kit}' is a {kit.Manifest.Role} kit; a node needs the kit `gct pki issue --node` made for it");
            }
        }
        catch (PkiException e)
        {
            throw new ConfigurationException($"{Section}:Kit", e.Message);
        }

        if (!string.IsNullOrWhiteSpace(Coordinator) && (!Uri.TryCreate(Coordinator, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ConfigurationException($"{Section}:Coordinator", $"'{Coordinator}' is not an https:// address");
        }

        if (ReconnectSeconds <= 0 || MaxReconnectSeconds < ReconnectSeconds)
        {
            throw new ConfigurationException($"{Section}:ReconnectSeconds", $"{ReconnectSeconds} must be positive and at most MaxReconnectSeconds ({MaxReconnectSeconds})");
        }
    }
}
