using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace GenerateCT.Federation.Pki;

/// <summary>
/// A federation's certificate authority, kept in one directory (mode 0700) on the machine that
/// provisions sites, as NVIDIA FLARE's provisioning does:
/// <list type="bullet">
/// <item><c>ca.crt</c>: the CA certificate (ECDSA P-256, self-signed, CA:true pathlen 0, keyCertSign + cRLSign);</item>
/// <item><c>ca.key</c>: its private key, PKCS#8 PEM, mode 0600 — keep the directory offline when not issuing;</item>
/// <item><c>federation.json</c>: the federation's name, the coordinator's address and every issued certificate (0600);</item>
/// <item><c>crl.pem</c>: the signed revocation list (RFC 5280 §5), rewritten by every revocation;</item>
/// <item><c>kits/NAME/</c>: one startup kit per site (<see cref="StartupKit"/>).</item>
/// </list>
/// Site certificates put the role in the subject (<c>CN=NAME, OU=node|coordinator|operator, O=FEDERATION</c>);
/// nodes and operators get clientAuth, the coordinator serverAuth with its host name as subject alternative name.
/// </summary>
public sealed partial class FederationCa
{
    public const string CertificateFile = "ca.crt";
    public const string KeyFile = "ca.key";
    public const string RecordsFile = "federation.json";
    public const string CrlFile = "crl.pem";
    public const string KitsFolder = "kits";

    /// <summary>Port in the coordinator's address when the issuer names none.</summary>
    public const int DefaultCoordinatorPort = 9443;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private readonly TimeProvider _clock;
    private readonly Records _records;

    private FederationCa(string directory, X509Certificate2 certificate, Records records, TimeProvider clock)
    {
        Directory = directory;
        Certificate = certificate;
        _records = records;
        _clock = clock;
    }

    public string Directory { get; }

    public string Federation => _records.Federation;

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The coordinator's gRPC address written into node and operator kits (set when the coordinator is issued).</summary>
    public string? CoordinatorAddress => _records.CoordinatorAddress;

    public string CrlPath => Path.Combine(Directory, CrlFile);

    public IReadOnlyList<IssuedCertificate> Issued => _records.Certificates;

    /// <summary>Creates the CA in <paramref name="directory"/> (which must not hold one yet) and an empty revocation list.</summary>
    /// <param name="clock">The time the CA's validity starts from (tests issue in the past).</param>
    public static FederationCa Initialize(string directory, string federation, int validityYears = 10, TimeProvider? clock = null)
    {
        clock ??= TimeProvider.System;
        ValidateName("federation", federation);
        directory = Path.GetFullPath(directory);
        if (File.Exists(Path.Combine(directory, KeyFile)) || File.Exists(Path.Combine(directory, RecordsFile)))
        {
            throw new PkiException($"'{directory}' already holds a federation CA; use another --out, or issue from it with --ca");
        }

        PrivateFiles.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        // The builder encodes the last name added first: the encoding reads O, OU, CN (RFC 4514 prints CN first).
        subject.AddCommonName(federation + " federation CA");
        subject.AddOrganizationalUnitName("ca");
        subject.AddOrganizationName(federation);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = clock.GetUtcNow();
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(validityYears));

        PrivateFiles.Write(Path.Combine(directory, KeyFile), key.ExportPkcs8PrivateKeyPem() + "\n", PrivateFiles.Private);
        PrivateFiles.Write(Path.Combine(directory, CertificateFile), ca.ExportCertificatePem() + "\n", PrivateFiles.Public);
        var records = new Records { Federation = federation };
        var created = new FederationCa(directory, X509CertificateLoader.LoadCertificate(ca.RawData), records, clock);
        created.WriteCrl();
        created.Save();
        return created;
    }

    /// <summary>Opens the CA in <paramref name="directory"/> (made by <see cref="Initialize"/>).</summary>
    public static FederationCa Open(string directory, TimeProvider? clock = null)
    {
        directory = Path.GetFullPath(directory);
        var recordsPath = Path.Combine(directory, RecordsFile);
        var certificatePath = Path.Combine(directory, CertificateFile);
        if (!File.Exists(recordsPath) || !File.Exists(certificatePath))
        {
            throw new PkiException($"'{directory}' holds no federation CA (no {RecordsFile} / {CertificateFile}); create one with gct pki init --out DIR --federation NAME");
        }

        Records records;
        try
        {
            records = JsonSerializer.Deserialize<Records>(File.ReadAllText(recordsPath), Json) ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new PkiException($"'{recordsPath}' is damaged ({e.Message}); restore it from the CA's backup", e);
        }

        return new FederationCa(directory, X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath)), records, clock ?? TimeProvider.System);
    }

    /// <summary>
    /// Issues a certificate for a site and writes its startup kit (default <c>kits/NAME</c> in the CA directory).
    /// </summary>
    /// <param name="name">Node or operator name (letters, digits, '.', '_', '-'), or the coordinator's host name.</param>
    /// <param name="validityDays">Days the certificate is valid from now (never beyond the CA).</param>
    /// <param name="coordinatorAddress">
    /// For a coordinator: its address (default https://NAME:9443), remembered for later kits. For a node or
    /// operator: overrides the remembered address in this kit.
    /// </param>
    /// <param name="kitDirectory">Where to write the kit instead of <c>kits/NAME</c>.</param>
    public IssuedCertificate Issue(SiteRole role, string name, int validityDays = 730, string? coordinatorAddress = null, string? kitDirectory = null)
    {
        if (role == SiteRole.Coordinator)
        {
            ValidateHostName(name);
            coordinatorAddress ??= $"https://{(IPAddress.TryParse(name, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{name}]" : name)}:{DefaultCoordinatorPort}";
        }
        else
        {
            ValidateName(role.Name(), name);
            coordinatorAddress ??= _records.CoordinatorAddress
                ?? throw new PkiException($"the federation has no coordinator address yet: issue the coordinator's certificate first (gct pki issue --ca DIR --coordinator HOSTNAME), or give --coordinator-address");
        }

        if (!Uri.TryCreate(coordinatorAddress, UriKind.Absolute, out var address) || address.Scheme != Uri.UriSchemeHttps)
        {
            throw new PkiException($"coordinator address '{coordinatorAddress}' is not an https:// URL (e.g. https://coordinator.example.org:9443)");
        }

        if (validityDays < 1)
        {
            throw new PkiException($"validity of {validityDays} days: give at least 1");
        }

        var now = _clock.GetUtcNow();
        if (_records.Certificates.FirstOrDefault(c => c.Name == name && !c.IsRevoked && c.NotAfter > now) is { } existing)
        {
            throw new PkiException($"'{name}' already holds certificate {existing.Serial} ({existing.Role.Name()}, valid until {existing.NotAfter:yyyy-MM-dd}); revoke it first (gct pki revoke --serial {existing.Serial})");
        }

        if (kitDirectory is null)
        {
            PrivateFiles.CreateDirectory(Path.Combine(Directory, KitsFolder));
        }

        var kit = Path.GetFullPath(kitDirectory ?? Path.Combine(Directory, KitsFolder, name));
        using var caKey = LoadKey();
        using var issuer = Certificate.CopyWithPrivateKey(caKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(name);
        subject.AddOrganizationalUnitName(role.Name());
        subject.AddOrganizationName(Federation);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([role == SiteRole.Coordinator ? FederationChain.ServerAuth : FederationChain.ClientAuth], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        if (role == SiteRole.Coordinator)
        {
            var san = new SubjectAlternativeNameBuilder();
            if (IPAddress.TryParse(name, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        var notBefore = now.AddMinutes(-5);
        var notAfter = now.AddDays(validityDays);
        if (notAfter > Certificate.NotAfter)
        {
            notAfter = Certificate.NotAfter;
        }

        using var issued = request.Create(issuer, notBefore, notAfter, NewSerial());
        using var withKey = issued.CopyWithPrivateKey(key);
        var record = new IssuedCertificate(
            issued.SerialNumber,
            name,
            role,
            new DateTimeOffset(issued.NotBefore.ToUniversalTime()),
            new DateTimeOffset(issued.NotAfter.ToUniversalTime()),
            CertificateFingerprint.Sha256(issued),
            kit);

        var manifest = new StartupKitManifest(Federation, name, role.Name(), address.ToString().TrimEnd('/'), CertificateFingerprint.Sha256(Certificate), record.Serial);
        StartupKit.Write(kit, manifest, Certificate, withKey, role == SiteRole.Coordinator ? File.ReadAllBytes(CrlPath) : null);

        _records.Certificates.Add(record);
        if (role == SiteRole.Coordinator)
        {
            _records.CoordinatorAddress = manifest.Coordinator;
        }

        Save();
        return record;
    }

    /// <summary>Revokes the certificate with <paramref name="serial"/> (hex, case and ':' ignored) and rewrites the revocation list.</summary>
    public IssuedCertificate RevokeSerial(string serial)
    {
        var wanted = serial.Replace(":", "").Trim().ToUpperInvariant().TrimStart('0');
        var index = _records.Certificates.FindIndex(c => c.Serial.TrimStart('0') == wanted);
        if (index < 0)
        {
            throw new PkiException($"this CA issued no certificate with serial {serial} (gct pki list shows them)");
        }

        return Revoke([index])[0];
    }

    /// <summary>Revokes every certificate of <paramref name="name"/> that is not revoked yet and rewrites the revocation list.</summary>
    public IReadOnlyList<IssuedCertificate> RevokeName(string name)
    {
        var indices = _records.Certificates.Select((c, i) => (c, i)).Where(x => x.c.Name == name && !x.c.IsRevoked).Select(x => x.i).ToList();
        if (indices.Count == 0)
        {
            throw new PkiException(_records.Certificates.Any(c => c.Name == name)
                ? $"every certificate of '{name}' is already revoked"
                : $"this CA issued no certificate to '{name}' (gct pki list shows them)");
        }

        return Revoke(indices);
    }

    private List<IssuedCertificate> Revoke(List<int> indices)
    {
        var now = _clock.GetUtcNow();
        var revoked = new List<IssuedCertificate>();
        foreach (var i in indices)
        {
            var record = _records.Certificates[i];
            if (!record.IsRevoked)
            {
                record = record with { RevokedAt = now };
                _records.Certificates[i] = record;
            }

            revoked.Add(record);
        }

        Save();
        WriteCrl();
        return revoked;
    }

    /// <summary>
    /// Signs a new revocation list of every revoked certificate (CRL number one higher) into <c>crl.pem</c>,
    /// and copies it into the coordinator kits this CA wrote, so a coordinator that reads its kit's list
    /// (on the same machine, or after the kit folder is synchronised) refuses the certificate at its next call.
    /// </summary>
    private void WriteCrl()
    {
        var now = _clock.GetUtcNow();
        var builder = new CertificateRevocationListBuilder();
        foreach (var c in _records.Certificates.Where(c => c.IsRevoked))
        {
            builder.AddEntry(Convert.FromHexString(c.Serial), c.RevokedAt!.Value, X509RevocationReason.Unspecified);
        }

        _records.CrlNumber++;
        using var caKey = LoadKey();
        using var issuer = Certificate.CopyWithPrivateKey(caKey);
        var der = builder.Build(issuer, new BigInteger(_records.CrlNumber), now.AddYears(1), HashAlgorithmName.SHA256, thisUpdate: now);
        var pem = PemEncoding.WriteString("X509 CRL", der) + "\n";
        PrivateFiles.Write(CrlPath, pem, PrivateFiles.Public);
        foreach (var kit in _records.Certificates.Where(c => c.Role == SiteRole.Coordinator && !c.IsRevoked).Select(c => c.Kit).Distinct())
        {
            if (System.IO.Directory.Exists(kit))
            {
                PrivateFiles.Write(Path.Combine(kit, StartupKit.CrlFile), pem, PrivateFiles.Public);
            }
        }
    }

    private ECDsa LoadKey()
    {
        var path = Path.Combine(Directory, KeyFile);
        if (!File.Exists(path))
        {
            throw new PkiException($"the CA key '{path}' is missing: issue and revoke on the machine that holds it");
        }

        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(path));
        return key;
    }

    private void Save() =>
        PrivateFiles.Write(Path.Combine(Directory, RecordsFile), JsonSerializer.Serialize(_records, Json) + "\n", PrivateFiles.Private);

    /// <summary>16 random bytes, positive and without a leading zero byte (RFC 5280 §4.1.2.2: at most 20 octets).</summary>
    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    private static void ValidateName(string what, string name)
    {
        if (!SiteName().IsMatch(name))
        {
            throw new PkiException($"{what} name '{name}' must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
    }

    private static void ValidateHostName(string name)
    {
        if (!IPAddress.TryParse(name, out _) && Uri.CheckHostName(name) != UriHostNameType.Dns)
        {
            throw new PkiException($"coordinator '{name}' is not a host name or IP address (nodes connect to it by this name)");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex SiteName();

    private sealed class Records
    {
        public string Federation { get; set; } = "";

        public string? CoordinatorAddress { get; set; }

        public long CrlNumber { get; set; }

        public List<IssuedCertificate> Certificates { get; set; } = [];
    }
}
