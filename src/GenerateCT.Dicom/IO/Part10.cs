namespace GenerateCT.Dicom.IO;

/// <summary>Part 10 framing shared by <see cref="DicomFile"/> and the SCP (PS3.10 §7.1).</summary>
internal static class Part10
{
    /// <summary>Meta with refreshed group length, version, UIDs and our implementation identity.</summary>
    public static DicomDataset BuildMeta(DicomDataset source, string sopClass, string sopInstance, DicomTransferSyntax syntax)
    {
        var meta = source.Clone();
        meta.Remove(DicomTag.FileMetaInformationGroupLength);
        meta.SetBytes(DicomTag.FileMetaInformationVersion, DicomVR.OB, new byte[] { 0, 1 });
        meta.SetString(DicomTag.MediaStorageSOPClassUID, sopClass, DicomVR.UI);
        meta.SetString(DicomTag.MediaStorageSOPInstanceUID, sopInstance, DicomVR.UI);
        meta.SetString(DicomTag.TransferSyntaxUID, syntax.Uid, DicomVR.UI);
        if (!meta.Contains(DicomTag.ImplementationClassUID))
        {
            meta.SetString(DicomTag.ImplementationClassUID, DicomUid.ImplementationClassUid, DicomVR.UI);
            meta.SetString(DicomTag.ImplementationVersionName, DicomUid.ImplementationVersionName);
        }

        var length = DicomDatasetWriter.Measure(meta, DicomTransferSyntax.ExplicitVRLittleEndian);
        meta.SetInt(DicomTag.FileMetaInformationGroupLength, length);
        return meta;
    }

    public static void WriteHeader(Stream output, DicomDataset meta)
    {
        output.Write(new byte[128]);
        output.Write("DICM"u8);
        DicomDatasetWriter.Write(output, meta, DicomTransferSyntax.ExplicitVRLittleEndian);
    }

    /// <summary>A Part 10 file around an already encoded data set (as received over the network).</summary>
    public static byte[] Compose(DicomDataset meta, DicomTransferSyntax syntax, ReadOnlySpan<byte> encodedDataset)
    {
        var full = BuildMeta(meta, meta.GetUid(DicomTag.MediaStorageSOPClassUID)!, meta.GetUid(DicomTag.MediaStorageSOPInstanceUID)!, syntax);
        using var ms = new MemoryStream(encodedDataset.Length + 512);
        WriteHeader(ms, full);
        ms.Write(encodedDataset);
        return ms.ToArray();
    }
}
