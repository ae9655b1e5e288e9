using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Dicom.Network;

/// <summary>Certificate checks for DICOM TLS (PS3.15 Annex B): chains must end at one of our configured roots.</summary>
internal static class DicomTls
{
    public static bool ValidatePeer(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection trustedRoots, bool required, bool checkName)
    {
        if (certificate is null)
        {
            return !required;
        }

        if (checkName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        if (trustedRoots.Count == 0)
        {
            // No custom roots: fall back to the platform's verdict.
            return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None || (!checkName && errors == SslPolicyErrors.RemoteCertificateNameMismatch);
        }

        using var cert = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trustedRoots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(cert);
    }
}
