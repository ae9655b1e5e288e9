using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Node.Security;

/// <summary>
/// HTTPS trust for the identity provider's discovery document and signing keys: the system trust
/// store, plus the CA certificates of <see cref="NodeIdentityOptions.IssuerCaCertificatePath"/> for
/// providers run inside the hospital with an internal PKI. Host names are always checked.
/// </summary>
internal sealed class IssuerTrust
{
    private readonly X509Certificate2Collection _roots;

    private IssuerTrust(X509Certificate2Collection roots) => _roots = roots;

    public static IssuerTrust? From(NodeIdentityOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.IssuerCaCertificatePath))
        {
            return null;
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(options.IssuerCaCertificatePath);
        if (roots.Count == 0)
        {
            throw new GenerateCT.Hosting.ConfigurationException(
                $"{NodeIdentityOptions.Section}:IssuerCaCertificatePath",
                $"'{options.IssuerCaCertificatePath}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        return new IssuerTrust(roots);
    }

    public HttpMessageHandler CreateHandler() => new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = Validate },
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
    };

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? systemChain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        // Only an unknown root is forgiven, and only for the configured CAs; a wrong host name never is.
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (systemChain is not null)
        {
            foreach (var element in systemChain.ChainElements.Skip(1))
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
