using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>The node's folders under its data directory.</summary>
public sealed class NodeStorage(string dataDirectory)
{
    public NodeStorage(IOptions<NodeOptions> options)
        : this(options.Value.DataDirectory)
    {
    }

    /// <summary>Identified instances as received, fsynced before success is answered; emptied by de-identification.</summary>
    public string Incoming { get; } = Path.Combine(dataDirectory, "incoming");

    /// <summary>Refused instances with their reason files.</summary>
    public string Quarantine { get; } = Path.Combine(dataDirectory, "quarantine");

    /// <summary>De-identified instances (store/series/KEY/SOPKEY.dcm) and assembled volumes (store/volumes).</summary>
    public string Store { get; } = Path.Combine(dataDirectory, "store");

    /// <summary>Identified originals kept after de-identification when retention is configured.</summary>
    public string Originals { get; } = Path.Combine(dataDirectory, "originals");

    public string SiteSecret { get; } = Path.Combine(dataDirectory, "secrets", "site.key");

    public void Create()
    {
        foreach (var d in new[] { Incoming, Quarantine, Store, Path.GetDirectoryName(SiteSecret)! })
        {
            Directory.CreateDirectory(d);
        }
    }
}
