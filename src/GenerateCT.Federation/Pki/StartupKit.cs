using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Net.Client;

namespace GenerateCT.Federation.Pki;

/// <summary>What a startup kit's <c>kit.json</c> says: whose kit it is and where the coordinator is.</summary>
/// <param name="Federation">The federation's name (the CA's O).</param>
/// <param name="Site">The site's name: its certificate's CN.</param>
/// <param name="Role">"node", "coordinator" or "operator".</param>
/// <param name="Coordinator">The coordinator's gRPC address, e.g. https://coordinator.example.org:9443.</param>
/// <param name="CaSha256">SHA-256 fingerprint of the federation CA certificate (the pin).</param>
/// <param name="Serial">The site certificate's serial number (hex).</param>
public sealed record StartupKitManifest(string Federation, string Site, string Role, string Coordinator, string CaSha256, string Serial);

/// <summary>
/// A site's startup kit: one folder handed to the site's IT (as NVIDIA FLARE's provisioning does) with
/// <c>ca.crt</c> (the federation CA, the only root the site trusts for federation traffic),
/// <c>site.crt</c> and <c>site.key</c> (the site's certificate and its private key, PEM, key mode 0600),
/// <c>kit.json</c> (<see cref="StartupKitManifest"/>), and for the coordinator <c>crl.pem</c> (the
/// revocation list it checks on every call).
/// </summary>
public sealed class StartupKit : IDisposable
{
    public const string ManifestFile = "kit.json";
    public const string CaCertificateFile = "ca.crt";
    public const string CertificateFile = "site.crt";
    public const string KeyFile = "site.key";
    public const string CrlFile = "crl.pem";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private StartupKit(string directory, StartupKitManifest manifest, SiteRole role, X509Certificate2 caCertificate, X509Certificate2 certificate)
    {
        Directory = directory;
        Manifest = manifest;
        Role = role;
        CaCertificate = caCertificate;
        Certificate = certificate;
    }

    public string Directory { get; }

    public StartupKitManifest Manifest { get; }

    public SiteRole Role { get; }

    /// <summary>The federation CA certificate.</summary>
    public X509Certificate2 CaCertificate { get; }

    /// <summary>The site's certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public Uri CoordinatorAddress => new(Manifest.Coordinator);

    public string CaCertificatePath => Path.Combine(Directory, CaCertificateFile);

    public string CrlPath => Path.Combine(Directory, CrlFile);

    /// <summary>
    /// Loads and checks a kit: the key file is private (0600), the CA is the one <c>kit.json</c> pins, and
    /// the site certificate is the CA's and carries the kit's role.
    /// </summary>
    public static StartupKit Load(string directory)
    {
        directory = Path.GetFullPath(directory);
        var manifestPath = Path.Combine(directory, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            throw new PkiException($"'{directory}' is not a startup kit (no {ManifestFile}); make one with gct pki issue");
        }

        StartupKitManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<StartupKitManifest>(File.ReadAllText(manifestPath), Json) ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new PkiException($"'{manifestPath}' is damaged ({e.Message}); ask the federation for a new kit", e);
        }

        if (!SiteRoles.TryParse(manifest.Role, out var role))
        {
            throw new PkiException($"'{manifestPath}' names role '{manifest.Role}': expected node, coordinator or operator");
        }

        var keyPath = Path.Combine(directory, KeyFile);
        if (!File.Exists(keyPath))
        {
            throw new PkiException($"the kit's private key '{keyPath}' is missing");
        }

        if ((File.GetUnixFileMode(keyPath) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            throw new PkiException($"the kit's private key '{keyPath}' is readable by others: chmod 600 it (and keep the kit folder private)");
        }

        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(directory, CaCertificateFile)));
        if (CertificateFingerprint.Sha256(ca) != manifest.CaSha256)
        {
            throw new PkiException($"the kit's {CaCertificateFile} is not the federation CA its {ManifestFile} pins (SHA-256 {manifest.CaSha256})");
        }

        using var pem = X509Certificate2.CreateFromPemFile(Path.Combine(directory, CertificateFile), keyPath);
        // PKCS#12 round trip: a key that lives only in memory is what SslStream expects on every platform.
        var certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
        var check = FederationChain.Check(certificate, ca, DateTimeOffset.UtcNow, expectedUsage: null);
        if (check.Refusal is not null && check.Kind != PeerRefusal.Expired)
        {
            throw new PkiException($"the kit's {CertificateFile} does not belong to the federation CA: {check.Refusal}");
        }

        if (FederationChain.RoleOf(certificate) != role || certificate.GetNameInfo(X509NameType.SimpleName, false) != manifest.Site)
        {
            throw new PkiException($"the kit's {CertificateFile} is not {manifest.Role} '{manifest.Site}' as its {ManifestFile} says");
        }

        return new StartupKit(directory, manifest, role, ca, certificate);
    }

    /// <summary>
    /// A gRPC channel to the coordinator over mutual TLS: this site's certificate as the client
    /// certificate, and a server certificate accepted only when it chains to the federation CA (not
    /// the system store), carries serverAuth and OU=coordinator, and matches the host name dialled.
    /// </summary>
    /// <param name="address">Another address than the kit's (a test's port); the host name is still checked.</param>
    public GrpcChannel CreateCoordinatorChannel(Uri? address = null, GrpcChannelOptions? options = null)
    {
        var ca = CaCertificate;
        var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                ClientCertificates = new X509CertificateCollection { Certificate },
                RemoteCertificateValidationCallback = (_, presented, _, errors) =>
                {
                    if (presented is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
                    {
                        return false;
                    }

                    using var server = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
                    var check = FederationChain.Check(server, ca, DateTimeOffset.UtcNow, FederationChain.ServerAuth);
                    return check.Refusal is null && FederationChain.RoleOf(server) == SiteRole.Coordinator;
                },
            },
            EnableMultipleHttp2Connections = true,
        };
        options ??= new GrpcChannelOptions();
        options.HttpHandler = handler;
        options.DisposeHttpClient = true;
        return GrpcChannel.ForAddress(address ?? CoordinatorAddress, options);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        CaCertificate.Dispose();
    }

    /// <summary>Writes a kit folder (0700): certificates world-readable, the key and the PKCS#8 0600.</summary>
    internal static void Write(string directory, StartupKitManifest manifest, X509Certificate2 ca, X509Certificate2 site, byte[]? crl)
    {
        PrivateFiles.CreateDirectory(directory);
        using var key = site.GetECDsaPrivateKey() ?? throw new PkiException("the site certificate has no ECDSA private key");
        PrivateFiles.Write(Path.Combine(directory, KeyFile), key.ExportPkcs8PrivateKeyPem() + "\n", PrivateFiles.Private);
        PrivateFiles.Write(Path.Combine(directory, CertificateFile), site.ExportCertificatePem() + "\n", PrivateFiles.Public);
        PrivateFiles.Write(Path.Combine(directory, CaCertificateFile), ca.ExportCertificatePem() + "\n", PrivateFiles.Public);
        if (crl is not null)
        {
            PrivateFiles.Write(Path.Combine(directory, CrlFile), crl, PrivateFiles.Public);
        }

        PrivateFiles.Write(Path.Combine(directory, ManifestFile), JsonSerializer.Serialize(manifest, Json) + "\n", PrivateFiles.Public);
    }
}
