using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;

namespace GenerateCT.Deid;

/// <summary>What happened to one received Part 10 instance.</summary>
public abstract record InstanceOutcome(string SopInstanceUid);

/// <summary>An image, de-identified and ready to store.</summary>
public sealed record DeidentifiedImage(DicomFile File, DeidentifiedInstance Instance) : InstanceOutcome(Instance.SopInstanceUid);

/// <summary>A Basic Text SR whose report was scrubbed; the SR itself is not kept.</summary>
public sealed record DeidentifiedSrReport(DeidentifiedReport Report, string PseudonymousSopInstanceUid) : InstanceOutcome(PseudonymousSopInstanceUid);

/// <summary>An instance refused with a reason (to quarantine).</summary>
public sealed record RefusedInstance(RefusalReason Reason, string Message, string PseudonymousSopInstanceUid) : InstanceOutcome(PseudonymousSopInstanceUid);

/// <summary>
/// The one entry point a node (and `gct deid`) uses to de-identify what it receives: CT instances
/// through <see cref="DicomDeidentifier"/>, Basic Text SR and HL7 ORU^R01 reports through
/// <see cref="ReportDeidentifier"/>, all with the same site keys so reports link to their studies.
/// </summary>
public sealed class SiteDeidentifier
{
    private readonly DicomDeidentifier _images;
    private readonly ReportDeidentifier _reports;

    public SiteDeidentifier(DeidentificationProfile profile, SiteSecret secret, PseudonymTable? pseudonyms = null)
    {
        Profile = profile;
        Keys = new KeyedPseudonyms(secret);
        Pseudonyms = pseudonyms;
        _images = new DicomDeidentifier(profile, Keys, pseudonyms);
        _reports = new ReportDeidentifier(Keys);
    }

    public DeidentificationProfile Profile { get; }

    public KeyedPseudonyms Keys { get; }

    public PseudonymTable? Pseudonyms { get; }

    /// <summary>
    /// Loads (or creates, mode 0600) the site secret at <paramref name="secretPath"/> and, when the
    /// profile enables it, opens the encrypted pseudonym table at <paramref name="pseudonymTablePath"/>.
    /// </summary>
    public static async Task<SiteDeidentifier> OpenAsync(DeidentificationProfile profile, string secretPath, string? pseudonymTablePath = null, CancellationToken cancellationToken = default)
    {
        var secret = await SiteSecret.LoadOrCreateAsync(secretPath, cancellationToken);
        PseudonymTable? table = null;
        if (profile.EnablePseudonymTable)
        {
            table = await PseudonymTable.OpenAsync(pseudonymTablePath ?? throw new ArgumentException("the profile enables the pseudonym table: give its path", nameof(pseudonymTablePath)), secret, cancellationToken);
        }
        return new SiteDeidentifier(profile, secret, table);
    }

    /// <summary>De-identifies one received instance: an image, a text report, or a refusal with its reason.</summary>
    public InstanceOutcome Deidentify(DicomFile file)
    {
        var ds = file.Dataset;
        var sop = ds.GetString(DicomTag.SOPInstanceUID) ?? "";
        var pseudoSop = sop.Length > 0 ? Keys.Uid(sop) : "";
        if (BasicTextSrReport.IsTextReport(ds))
            return new DeidentifiedSrReport(_reports.Deidentify(BasicTextSrReport.Read(ds)), pseudoSop);
        try
        {
            var instance = _images.Deidentify(ds);
            return new DeidentifiedImage(new DicomFile(instance.Dataset, file.TransferSyntax), instance);
        }
        catch (DeidentificationRefusedException e)
        {
            return new RefusedInstance(e.Reason, e.Message, pseudoSop);
        }
    }

    public DeidentifiedReport DeidentifyReport(RadiologyReport report) => _reports.Deidentify(report);

    /// <summary>An HL7 v2 ORU^R01 message (throws <see cref="Hl7RejectException"/> for other types).</summary>
    public DeidentifiedReport DeidentifyHl7(string message) => _reports.Deidentify(OruReportReader.Read(Hl7Message.Parse(message)));

    /// <summary>
    /// A bare report text with no message fields around it: names, identifiers and the like are found
    /// by pattern and name list only, and dates are replaced (no patient is known to key a shift).
    /// </summary>
    public DeidentifiedReport DeidentifyText(string text) => _reports.Deidentify(new RadiologyReport { Text = text });

    /// <summary>Saves the pseudonym table if one is kept.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Pseudonyms?.SaveAsync(cancellationToken) ?? Task.CompletedTask;
}
