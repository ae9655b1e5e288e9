using System.Security.Cryptography;
using GenerateCT.Federation.Pki;
using GenerateCT.Hosting;
using Microsoft.Extensions.Options;

namespace GenerateCT.Coordinator.Security;

/// <summary>
/// The coordinator's kit and its trust in the federation, loaded once at start (a damaged kit stops the
/// start with a message naming the key). Both are null when no kit is configured.
/// </summary>
internal sealed class CoordinatorPki : IDisposable
{
    public CoordinatorPki(IOptions<CoordinatorOptions> options)
    {
        var pki = options.Value.Pki;
        if (!pki.IsConfigured)
        {
            return;
        }

        var section = $"{CoordinatorOptions.Section}:Pki";
        try
        {
            Kit = StartupKit.Load(pki.Kit!);
        }
        catch (Exception e) when (e is PkiException or CryptographicException or IOException)
        {
            throw new ConfigurationException($"{section}:Kit", e.Message);
        }

        if (Kit.Role != SiteRole.Coordinator)
        {
            throw new ConfigurationException($"{section}:Kit", $"'{pki.Kit}' is the kit of {Kit.Manifest.Role} '{Kit.Manifest.Site}', not a coordinator's");
        }

        if (Kit.Certificate.NotAfter.ToUniversalTime() < DateTime.UtcNow)
        {
            throw new ConfigurationException($"{section}:Kit", $"the kit's certificate expired on {Kit.Certificate.NotAfter.ToUniversalTime():u}; issue a new one (gct pki revoke, then gct pki issue --coordinator {Kit.Manifest.Site})");
        }

        var ca = Kit.CaCertificate;
        if (pki.CaCertificatePath is { Length: > 0 } caPath)
        {
            try
            {
                ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
            }
            catch (CryptographicException e)
            {
                throw new ConfigurationException($"{section}:CaCertificatePath", $"'{caPath}' is not a PEM certificate ({e.Message})");
            }
        }

        Trust = new FederationTrust(ca, pki.EffectiveCrlPath!);
        try
        {
            RevocationList.Parse(File.ReadAllBytes(Trust.CrlPath), ca);
        }
        catch (CryptographicException e)
        {
            throw new ConfigurationException($"{section}:CrlPath", $"'{Trust.CrlPath}' is not the federation CA's revocation list ({e.Message})");
        }
    }

    public StartupKit? Kit { get; }

    public FederationTrust? Trust { get; }

    /// <summary>The federation's name, from the kit; empty without one.</summary>
    public string Federation => Kit?.Manifest.Federation ?? "";

    public void Dispose() => Kit?.Dispose();
}
