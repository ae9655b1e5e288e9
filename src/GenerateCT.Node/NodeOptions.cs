using GenerateCT.Hosting;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Security;

namespace GenerateCT.Node;

/// <summary>A node's configuration (section "Node" of appsettings.json, environment GCT_Node__*).</summary>
public sealed class NodeOptions : IGrpcHostOptions
{
    public const string Section = "Node";

    /// <summary>State: embedded database, TLS material, incoming/, store/, quarantine/, generated/.</summary>
    public string DataDirectory { get; set; } = DataDirectories.Default("node");

    /// <summary>gRPC (HTTPS, HTTP/2) port for admin, generation and health; 0 = any free port.</summary>
    public int GrpcPort { get; set; } = 8443;

    /// <summary>Address gRPC listens on.</summary>
    public string GrpcAddress { get; set; } = "0.0.0.0";

    /// <summary>DICOM C-STORE SCP port for the PACS.</summary>
    public int DicomPort { get; set; } = 11112;

    /// <summary>Our AE title as the PACS addresses it.</summary>
    public string AeTitle { get; set; } = "GCT_NODE";

    /// <summary>PostgreSQL connection string; empty = the embedded private cluster in the data directory.</summary>
    public string? ConnectionString { get; set; }

    public TlsOptions Tls { get; set; } = new();

    /// <summary>Identity provider (Microsoft.Identity.Web, section "Node:Identity").</summary>
    public NodeIdentityOptions Identity { get; set; } = new();

    /// <summary>Per-user limits on expensive gRPC calls.</summary>
    public NodeRateLimitOptions RateLimit { get; set; } = new();

    /// <summary>Synthetic-CT generation for researchers (section "Node:Generation").</summary>
    public GenerationOptions Generation { get; set; } = new();

    public void Validate()
    {
        HostOptionsValidation.NotEmpty($"{Section}:DataDirectory", DataDirectory);
        HostOptionsValidation.Port($"{Section}:GrpcPort", GrpcPort);
        HostOptionsValidation.Port($"{Section}:DicomPort", DicomPort);
        HostOptionsValidation.IpAddress($"{Section}:GrpcAddress", GrpcAddress);
        if (string.IsNullOrWhiteSpace(AeTitle) || AeTitle.Length > 16 || AeTitle.Any(c => c < 0x20 || c > 0x7e || c == '\\'))
        {
            throw new ConfigurationException($"{Section}:AeTitle", $"'{AeTitle}' is not a DICOM AE title (1–16 printable ASCII characters, no backslash)");
        }

        HostOptionsValidation.ExistingFile($"{Section}:Tls:CertificatePath", Tls.CertificatePath);
        Identity.Validate();
        RateLimit.Validate();
        Generation.Validate();
    }
}
