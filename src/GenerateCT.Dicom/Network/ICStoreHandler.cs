using System.Net;
using GenerateCT.Dicom.IO;

namespace GenerateCT.Dicom.Network;

/// <summary>Who is on the other end of an association (for handlers and the audit log).</summary>
public sealed record DicomAssociationInfo(
    Guid Id,
    string CallingAeTitle,
    string CalledAeTitle,
    IPEndPoint RemoteEndPoint,
    bool IsTls,
    string? PeerCertificateSubject,
    string PeerImplementationClassUid,
    string? PeerImplementationVersionName);

/// <summary>One received C-STORE: the command's UIDs and the data set exactly as it arrived.</summary>
public sealed class CStoreRequest
{
    internal CStoreRequest(DicomAssociationInfo association, string sopClassUid, string sopInstanceUid, DicomTransferSyntax transferSyntax, ReadOnlyMemory<byte> datasetBytes)
    {
        Association = association;
        SopClassUid = sopClassUid;
        SopInstanceUid = sopInstanceUid;
        TransferSyntax = transferSyntax;
        DatasetBytes = datasetBytes;
    }

    public DicomAssociationInfo Association { get; }

    /// <summary>Affected SOP Class UID of the C-STORE-RQ.</summary>
    public string SopClassUid { get; }

    /// <summary>Affected SOP Instance UID of the C-STORE-RQ.</summary>
    public string SopInstanceUid { get; }

    public DicomTransferSyntax TransferSyntax { get; }

    /// <summary>The data set in <see cref="TransferSyntax"/>, without meta header; valid only during the handler call.</summary>
    public ReadOnlyMemory<byte> DatasetBytes { get; }

    /// <summary>
    /// Parses the data set (limits from <paramref name="options"/>) and checks it against the command:
    /// SOP Class and Instance UIDs must match (PS3.4 §B.2.3, else 0xA900).
    /// </summary>
    public DicomFile ParseAndValidate(DicomReadOptions? options = null)
    {
        var body = DatasetBytes;
        if (TransferSyntax.IsDeflated)
        {
            // Parse through the Part 10 path, which inflates with the bomb limit.
            var inflated = DicomFile.Read(ToPart10Bytes(), options);
            Validate(inflated.Dataset);
            return inflated;
        }

        var ds = DicomDatasetReader.Read(body, TransferSyntax, options);
        var file = new DicomFile(ds, TransferSyntax);
        Validate(file.Dataset);
        return file;
    }

    /// <summary>The instance as a Part 10 file: our meta header followed by the received bytes unchanged.</summary>
    public byte[] ToPart10Bytes()
    {
        var meta = new DicomDataset();
        meta.SetString(DicomTag.MediaStorageSOPClassUID, SopClassUid, DicomVR.UI);
        meta.SetString(DicomTag.MediaStorageSOPInstanceUID, SopInstanceUid, DicomVR.UI);
        meta.SetString(DicomTag.SourceApplicationEntityTitle, Association.CallingAeTitle);
        return Part10.Compose(meta, TransferSyntax, DatasetBytes.Span);
    }

    internal void Validate(DicomDataset ds)
    {
        var cls = ds.GetUid(DicomTag.SOPClassUID);
        var inst = ds.GetUid(DicomTag.SOPInstanceUID);
        if (cls != SopClassUid || inst != SopInstanceUid)
        {
            throw new DicomDatasetMismatchException($"data set SOP Class/Instance {cls}/{inst} does not match the C-STORE command {SopClassUid}/{SopInstanceUid}");
        }
    }
}

/// <summary>Decides what happens to each received instance. The node host plugs in its own; <see cref="DurableFileStore"/> is the default.</summary>
public interface ICStoreHandler
{
    /// <summary>
    /// Store (durably) or refuse the instance. The returned status goes to the peer only after this
    /// completes, so a success must mean the instance is safe on disk.
    /// </summary>
    Task<DicomStatus> HandleAsync(CStoreRequest request, CancellationToken cancellationToken);
}
