using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Dicom.Network;

/// <summary>Settings of a <see cref="DicomListener"/> (bind from configuration in the node host).</summary>
public sealed class DicomListenerOptions
{
    /// <summary>Our AE title; associations calling another title are rejected (reason 7).</summary>
    public string AeTitle { get; set; } = "GENERATECT";

    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (see <see cref="DicomListener.Port"/>).</summary>
    public int Port { get; set; } = 11112;

    /// <summary>Calling AE / source address allow-list; empty accepts everyone (not for production).</summary>
    public IList<DicomPeerRule> AllowedPeers { get; } = [];

    /// <summary>Server certificate (with private key) to require TLS (PS3.15 Annex B, BCP 195); null = plain TCP.</summary>
    public X509Certificate2? TlsCertificate { get; set; }

    /// <summary>With TLS: require a client certificate issued by one of <see cref="TrustedClientAuthorities"/>.</summary>
    public bool RequireClientCertificate { get; set; } = true;

    /// <summary>Root CAs trusted for client certificates (custom trust; the system store is not used).</summary>
    public X509Certificate2Collection TrustedClientAuthorities { get; } = [];

    /// <summary>Largest P-DATA PDU we accept (announced in A-ASSOCIATE-AC).</summary>
    public uint MaxPduLength { get; set; } = 256 * 1024;

    /// <summary>Largest data set accepted in one C-STORE.</summary>
    public long MaxDatasetBytes { get; set; } = 2L * 1024 * 1024 * 1024 - 4096;

    /// <summary>Concurrent associations; more get A-ASSOCIATE-RJ "local limit exceeded" (transient).</summary>
    public int MaxAssociations { get; set; } = 32;

    /// <summary>ARTIM (PS3.8 §9.1.5): wait for A-ASSOCIATE-RQ after connect (and TLS handshake), and for the close after release.</summary>
    public TimeSpan ArtimTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>An association idle longer than this between messages is aborted.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>SOP classes accepted for C-STORE; null accepts every storage SOP class (1.2.840.10008.5.1.4.1.1.*).</summary>
    public ISet<string>? AcceptedSopClasses { get; set; }
}
