using GenerateCT.Federation.Pki;
using GenerateCT.Hosting;

namespace GenerateCT.Coordinator;

/// <summary>
/// The coordinator's place in the federation PKI (section "Coordinator:Pki"). With a kit configured,
/// gRPC is served with the kit's certificate and every federation call must come with a client
/// certificate of the federation CA that is valid and not revoked. Without one, the coordinator serves
/// health only (every federation call is refused): the demo's and a fresh install's behaviour.
/// </summary>
public sealed class CoordinatorPkiOptions
{
    /// <summary>The coordinator's startup kit (<c>gct pki issue --coordinator HOSTNAME</c>).</summary>
    public string? Kit { get; set; }

    /// <summary>The federation CA certificate (PEM) client certificates must chain to; default: the kit's ca.crt.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>
    /// The revocation list (PEM or DER, signed by the CA), read again at every call; default: the kit's
    /// crl.pem, which <c>gct pki revoke</c> rewrites when the CA directory holds the kit.
    /// </summary>
    public string? CrlPath { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Kit);

    public string? EffectiveCaCertificatePath => CaCertificatePath is { Length: > 0 } path ? path : IsConfigured ? Path.Combine(Kit!, StartupKit.CaCertificateFile) : null;

    public string? EffectiveCrlPath => CrlPath is { Length: > 0 } path ? path : IsConfigured ? Path.Combine(Kit!, StartupKit.CrlFile) : null;

    internal void Validate(string section, TlsOptions tls)
    {
        if (!IsConfigured)
        {
            if (!string.IsNullOrWhiteSpace(CaCertificatePath) || !string.IsNullOrWhiteSpace(CrlPath))
            {
                throw new ConfigurationException($"{section}:Kit", "is required when CaCertificatePath or CrlPath is set (the coordinator serves with its kit's certificate)");
            }

            return;
        }

        if (!Directory.Exists(Kit))
        {
            throw new ConfigurationException($"{section}:Kit", $"directory '{Kit}' does not exist (make it with gct pki issue --ca DIR --coordinator HOSTNAME)");
        }

        if (tls.CertificatePath is { Length: > 0 } certificate && Path.GetFullPath(certificate) != Path.GetFullPath(Path.Combine(Kit!, StartupKit.CertificateFile)))
        {
            throw new ConfigurationException($"{CoordinatorOptions.Section}:Tls:CertificatePath", $"is set, and so is {section}:Kit: the coordinator serves with its kit's certificate; remove one");
        }

        HostOptionsValidation.ExistingFile($"{section}:CaCertificatePath", EffectiveCaCertificatePath);
        if (!File.Exists(EffectiveCrlPath))
        {
            throw new ConfigurationException($"{section}:CrlPath", $"file '{EffectiveCrlPath}' does not exist (copy the CA directory's crl.pem there)");
        }
    }
}
