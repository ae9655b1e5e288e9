using System.IO.Compression;
using System.Text;
using GenerateCT.Dicom.IO;

namespace GenerateCT.Dicom;

/// <summary>
/// A DICOM Part 10 file (PS3.10 §7): 128-byte preamble, "DICM", File Meta Information (group 0002,
/// always Explicit VR Little Endian) and the data set in the transfer syntax the meta names.
/// </summary>
public sealed class DicomFile
{
    private static readonly byte[] Prefix = "DICM"u8.ToArray();

    /// <summary>A file for <paramref name="dataset"/>; the meta is built from its SOP Class/Instance UIDs.</summary>
    public DicomFile(DicomDataset dataset, DicomTransferSyntax? transferSyntax = null)
        : this(new DicomDataset(), dataset, transferSyntax ?? DicomTransferSyntax.ExplicitVRLittleEndian)
    {
    }

    private DicomFile(DicomDataset meta, DicomDataset dataset, DicomTransferSyntax syntax)
    {
        FileMetaInformation = meta;
        Dataset = dataset;
        TransferSyntax = syntax;
    }

    public DicomDataset FileMetaInformation { get; }

    public DicomDataset Dataset { get; }

    /// <summary>The transfer syntax the data set is (or will be) encoded in.</summary>
    public DicomTransferSyntax TransferSyntax { get; set; }

    public static DicomFile Read(ReadOnlyMemory<byte> bytes, DicomReadOptions? options = null)
    {
        var span = bytes.Span;
        if (bytes.Length < 132)
        {
            throw new DicomParseException($"{bytes.Length} bytes is too short for a Part 10 file (preamble + DICM need 132)", 0);
        }

        if (!span.Slice(128, 4).SequenceEqual(Prefix))
        {
            throw new DicomParseException("no 'DICM' prefix after the 128-byte preamble: not a DICOM Part 10 file (PS3.10 §7.1)", 128);
        }

        var metaReader = new DicomDatasetReader(bytes[132..], DicomTransferSyntax.ExplicitVRLittleEndian, options, reportOffset: 132);
        DicomDataset meta;
        try
        {
            meta = metaReader.ReadDataset(bytes.Length - 132, 0, stopAtGroupAbove: 0x0002);
        }
        catch (DicomParseException ex)
        {
            throw new DicomParseException($"File Meta Information: {ex.Message}", ex.Offset, ex.Tag, ex);
        }

        if (meta.Count == 0 || meta.Any(e => e.Tag.Group != 0x0002))
        {
            throw new DicomParseException("File Meta Information (group 0002) missing after the DICM prefix (PS3.10 §7.1)", 132);
        }

        var tsUid = meta.GetUid(DicomTag.TransferSyntaxUID)
            ?? throw new DicomParseException("File Meta Information lacks Transfer Syntax UID (0002,0010)", 132, DicomTag.TransferSyntaxUID);
        var syntax = DicomTransferSyntax.Lookup(tsUid);
        int dataStart = 132 + metaReader.Position;
        var body = bytes[dataStart..];
        if (syntax.IsDeflated)
        {
            body = Inflate(body, options ?? DicomReadOptions.Default);
            dataStart = 0;
        }

        DicomDataset dataset;
        try
        {
            var r = new DicomDatasetReader(body, syntax, options, reportOffset: dataStart);
            dataset = r.ReadDataset(body.Length, 0, null);
            if (r.Position != body.Length)
            {
                throw new DicomParseException("item delimiter outside any sequence", dataStart + r.Position - 8);
            }
        }
        catch (DicomParseException ex) when (!syntax.CanDecode && ex.Tag is null)
        {
            throw new DicomNotSupportedException($"transfer syntax {syntax} is not supported: {ex.Message}");
        }

        return new DicomFile(meta, dataset, syntax);
    }

    public static async Task<DicomFile> OpenAsync(string path, CancellationToken cancellationToken = default, DicomReadOptions? options = null)
    {
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        try
        {
            return Read(bytes, options);
        }
        catch (DicomParseException ex)
        {
            throw new DicomParseException($"{path}: {ex.Message}", ex.Offset, ex.Tag, ex);
        }
    }

    /// <summary>Writes preamble, meta (group length and UIDs refreshed) and the data set in <see cref="TransferSyntax"/>.</summary>
    public void WriteTo(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (TransferSyntax.IsEncapsulated == false && Dataset[DicomTag.PixelData] is DicomFragmentSequence)
        {
            throw new DicomNotSupportedException($"pixel data is encapsulated; it cannot be written as {TransferSyntax.Name} without decompressing it first");
        }

        Part10.WriteHeader(output, BuildMeta());
        if (TransferSyntax.IsDeflated)
        {
            // Deflated Explicit VR LE: raw deflate (RFC 1951, no zlib header) of the explicit LE data set (PS3.5 §A.5).
            using var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true);
            DicomDatasetWriter.Write(deflate, Dataset, TransferSyntax);
        }
        else
        {
            DicomDatasetWriter.Write(output, Dataset, TransferSyntax);
        }
    }

    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        WriteTo(ms);
        return ms.ToArray();
    }

    /// <summary>Writes the file (not atomically; receivers that must be durable use the SCP's durable store).</summary>
    public async Task SaveAsync(string path, CancellationToken cancellationToken = default)
    {
        await File.WriteAllBytesAsync(path, ToBytes(), cancellationToken).ConfigureAwait(false);
    }

    private DicomDataset BuildMeta()
    {
        var sopClass = Dataset.GetUid(DicomTag.SOPClassUID) ?? FileMetaInformation.GetUid(DicomTag.MediaStorageSOPClassUID)
            ?? throw new InvalidOperationException("the data set has no SOP Class UID (0008,0016); a Part 10 file needs one");
        var sopInstance = Dataset.GetUid(DicomTag.SOPInstanceUID) ?? FileMetaInformation.GetUid(DicomTag.MediaStorageSOPInstanceUID)
            ?? throw new InvalidOperationException("the data set has no SOP Instance UID (0008,0018); a Part 10 file needs one");
        return Part10.BuildMeta(FileMetaInformation, sopClass, sopInstance, TransferSyntax);
    }

    private static ReadOnlyMemory<byte> Inflate(ReadOnlyMemory<byte> body, DicomReadOptions options)
    {
        using var input = new MemoryStream(body.ToArray(), writable: false);
        using var inflate = new DeflateStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = new byte[81920];
        try
        {
            int n;
            while ((n = inflate.Read(buffer)) > 0)
            {
                output.Write(buffer, 0, n);
                if (output.Length > options.MaxInflatedBytes)
                {
                    throw new DicomParseException($"deflated data set inflates beyond {options.MaxInflatedBytes} bytes (refused as a deflate bomb)", 0);
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw new DicomParseException($"deflated data set is not valid deflate data: {ex.Message}", 0, inner: ex);
        }

        return output.GetBuffer().AsMemory(0, (int)output.Length);
    }

    public override string ToString() => $"DicomFile {Dataset.GetUid(DicomTag.SOPInstanceUID)} ({TransferSyntax.Name})";

    internal static string Describe(DicomDataset ds) => new StringBuilder().Append(ds.GetString(DicomTag.SOPClassUID)).ToString();
}
