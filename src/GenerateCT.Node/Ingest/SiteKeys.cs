using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// The node's de-identifiers, keyed by the per-site secret: opened once before the node's services
/// start (the secret is created, mode 0600, on the first start; the encrypted pseudonym table is
/// opened when the profile enables it).
/// </summary>
internal sealed class SiteKeys(IOptions<NodeOptions> node, IOptions<DeidentificationProfile> profile, NodeStorage storage)
{
    private (DicomDeidentifier Images, ReportDeidentifier Reports)? _opened;

    /// <summary>CT instances (PS3.15 Annex E with the node's profile).</summary>
    public DicomDeidentifier Images => Opened.Images;

    /// <summary>Report text (DICOM SR, HL7 ORU, admin upload).</summary>
    public ReportDeidentifier Reports => Opened.Reports;

    private (DicomDeidentifier Images, ReportDeidentifier Reports) Opened =>
        _opened ?? throw new InvalidOperationException("the site keys are not loaded yet");

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        storage.Create();
        var secret = await SiteSecret.LoadOrCreateAsync(storage.SiteSecret, cancellationToken);
        var keys = new KeyedPseudonyms(secret);
        PseudonymTable? pseudonyms = profile.Value.EnablePseudonymTable
            ? await PseudonymTable.OpenAsync(Path.Combine(node.Value.DataDirectory, "secrets", "pseudonyms.bin"), secret, cancellationToken)
            : null;
        _opened = (new DicomDeidentifier(profile.Value, keys, pseudonyms), new ReportDeidentifier(keys));
    }
}
