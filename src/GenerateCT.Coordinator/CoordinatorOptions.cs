using GenerateCT.Hosting;

namespace GenerateCT.Coordinator;

/// <summary>A coordinator's configuration (section "Coordinator", environment GCT_Coordinator__*).</summary>
public sealed class CoordinatorOptions : IGrpcHostOptions
{
    public const string Section = "Coordinator";

    /// <summary>State: embedded database, TLS material, model versions.</summary>
    public string DataDirectory { get; set; } = DataDirectories.Default("coordinator");

    /// <summary>gRPC (HTTPS, HTTP/2) port nodes connect to; 0 = any free port.</summary>
    public int GrpcPort { get; set; } = 9443;

    public string GrpcAddress { get; set; } = "0.0.0.0";

    /// <summary>PostgreSQL connection string; empty = the embedded private cluster in the data directory.</summary>
    public string? ConnectionString { get; set; }

    public TlsOptions Tls { get; set; } = new();

    public CoordinatorPkiOptions Pki { get; set; } = new();

    /// <summary>How often rounds are checked for their close (enough updates, every participant answered, the deadline).</summary>
    public int RoundCheckMilliseconds { get; set; } = 1000;

    /// <summary>With a kit, gRPC is served with the kit's certificate and key (PEM).</summary>
    internal void UseKitCertificate()
    {
        if (Pki.IsConfigured && string.IsNullOrWhiteSpace(Tls.CertificatePath))
        {
            Tls.CertificatePath = Path.Combine(Pki.Kit!, GenerateCT.Federation.Pki.StartupKit.CertificateFile);
            Tls.KeyPath = Path.Combine(Pki.Kit!, GenerateCT.Federation.Pki.StartupKit.KeyFile);
        }
    }

    public void Validate()
    {
        HostOptionsValidation.NotEmpty($"{Section}:DataDirectory", DataDirectory);
        HostOptionsValidation.Port($"{Section}:GrpcPort", GrpcPort);
        HostOptionsValidation.IpAddress($"{Section}:GrpcAddress", GrpcAddress);
        Pki.Validate($"{Section}:Pki", Tls);
        if (RoundCheckMilliseconds is < 10 or > 600_000)
        {
            throw new ConfigurationException($"{Section}:RoundCheckMilliseconds", $"must be between 10 and 600000, not {RoundCheckMilliseconds}");
        }

        HostOptionsValidation.ExistingFile($"{Section}:Tls:CertificatePath", Tls.CertificatePath);
    }
}
