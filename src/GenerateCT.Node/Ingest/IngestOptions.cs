using GenerateCT.Dicom.Network;
using GenerateCT.Hosting;

namespace GenerateCT.Node.Ingest;

/// <summary>How the node receives from the PACS (section "Node:Ingest").</summary>
public sealed class IngestOptions
{
    public const string Section = "Node:Ingest";

    /// <summary>Address the DICOM listener binds to.</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>
    /// Calling AE title + source address allow-list, "AE@address", "AE@network/bits", "*@127.0.0.1".
    /// Associations that match no entry are rejected (A-ASSOCIATE-RJ, calling AE not recognized).
    /// The default admits only this machine.
    /// </summary>
    public List<string> AllowedPeers { get; set; } = ["*@127.0.0.1"];

    /// <summary>Require DICOM TLS (PS3.15 Annex B) on the DICOM port, with the node's certificate.</summary>
    public bool DicomTls { get; set; }

    /// <summary>With DicomTls: PEM/DER file of the CA that issues the PACS's client certificates; empty = no client certificate required.</summary>
    public string? DicomClientCaPath { get; set; }

    /// <summary>Instances waiting for de-identification; when full, C-STORE responses wait (back-pressure on the PACS).</summary>
    public int QueueCapacity { get; set; } = 64;

    /// <summary>A series is assembled into a volume once no instance arrived for this many seconds.</summary>
    public int SeriesIdleSeconds { get; set; } = 30;

    /// <summary>Receive HL7 v2 ORU^R01 reports over MLLP.</summary>
    public bool Hl7Enabled { get; set; } = true;

    /// <summary>Address of the MLLP listener; restrict it to the interface the RIS reaches.</summary>
    public string Hl7BindAddress { get; set; } = "127.0.0.1";

    /// <summary>MLLP port (0 = any free port).</summary>
    public int Hl7Port { get; set; } = 2575;

    /// <summary>Keep identified originals (in originals/) after de-identification; default: delete them.</summary>
    public bool RetainOriginals { get; set; }

    /// <summary>The parsed allow-list; throws <see cref="ConfigurationException"/> naming the bad entry.</summary>
    public IReadOnlyList<DicomPeerRule> PeerRules()
    {
        var rules = new List<DicomPeerRule>();
        for (int i = 0; i < AllowedPeers.Count; i++)
        {
            try
            {
                rules.Add(DicomPeerRule.Parse(AllowedPeers[i]));
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw new ConfigurationException($"{Section}:AllowedPeers:{i}", e.Message);
            }
        }

        return rules;
    }

    public void Validate()
    {
        HostOptionsValidation.IpAddress($"{Section}:BindAddress", BindAddress);
        _ = PeerRules();
        if (QueueCapacity < 1)
        {
            throw new ConfigurationException($"{Section}:QueueCapacity", "must be at least 1");
        }

        if (SeriesIdleSeconds < 0)
        {
            throw new ConfigurationException($"{Section}:SeriesIdleSeconds", "must not be negative");
        }

        HostOptionsValidation.ExistingFile($"{Section}:DicomClientCaPath", DicomClientCaPath);
        HostOptionsValidation.IpAddress($"{Section}:Hl7BindAddress", Hl7BindAddress);
        HostOptionsValidation.Port($"{Section}:Hl7Port", Hl7Port);
    }
}
