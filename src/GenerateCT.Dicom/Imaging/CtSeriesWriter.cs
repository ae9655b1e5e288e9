using System.Globalization;
using GenerateCT.Imaging;

namespace GenerateCT.Dicom.Imaging;

/// <summary>
/// Writes a <see cref="Volume"/> (HU, LPS geometry) as a CT Image Storage series: one single-frame
/// instance per slice, signed 16-bit pixels, with Image Plane (PS3.3 §C.7.6.2) and CT Image
/// (§C.8.2.1) geometry so that <see cref="SeriesAssembler"/> or any viewer rebuilds the volume.
/// </summary>
public static class CtSeriesWriter
{
    /// <summary>The text that marks a synthetic instance, in Derivation Description (0008,2111) and Image Comments (0020,4000).</summary>
    public const string SyntheticMarker = "SYNTHETIC (GenerateCT)";

    public const string SyntheticSeriesDescription = "SYNTHETIC CT (GenerateCT)";

    /// <summary>True when the instance carries the synthetic marker written by this class.</summary>
    public static bool IsSynthetic(DicomDataset dataset) =>
        (dataset.GetString(DicomTag.DerivationDescription) ?? string.Empty).Contains(SyntheticMarker, StringComparison.Ordinal)
        || (dataset.GetString(DicomTag.ImageComments) ?? string.Empty).Contains(SyntheticMarker, StringComparison.Ordinal);

    /// <summary>One data set per slice (z = 0 first), ready to store or send.</summary>
    public static IReadOnlyList<DicomDataset> CreateInstances(Volume volume, CtSeriesOptions options)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(options);
        if (options.RescaleSlope == 0)
        {
            throw new ArgumentException("RescaleSlope must be non-zero", nameof(options));
        }

        var study = options.StudyInstanceUid ?? DicomUid.Generate();
        var series = options.SeriesInstanceUid ?? DicomUid.Generate();
        var frame = options.FrameOfReferenceUid ?? DicomUid.Generate();
        var sz = volume.Spacing.Z;
        var now = DateTime.UtcNow;
        var result = new List<DicomDataset>(volume.Depth);
        for (int z = 0; z < volume.Depth; z++)
        {
            var ds = new DicomDataset();
            SetIdentification(ds, options, now);
            SetDescriptionsAndPatient(ds, options);
            SetAcquisitionAndHierarchy(ds, options, study, series, sz, instanceNumber: z + 1);
            SetImagePlane(ds, volume, z, frame, options);
            SetImagePixel(ds, volume, z, options);
            result.Add(ds);
        }

        return result;
    }

    /// <summary>Character set, image type, SOP Common (PS3.3 §C.12.1) and the study/series dates, times and modality.</summary>
    private static void SetIdentification(DicomDataset ds, CtSeriesOptions options, DateTime now)
    {
        ds.SetString(DicomTag.SpecificCharacterSet, "ISO_IR 192");
        ds.SetStrings(DicomTag.ImageType, options.Synthetic ? ["DERIVED", "SECONDARY", "AXIAL"] : ["ORIGINAL", "PRIMARY", "AXIAL"]);
        ds.SetString(DicomTag.InstanceCreationDate, Da(now));
        ds.SetString(DicomTag.InstanceCreationTime, Tm(now));
        ds.SetUid(DicomTag.SOPClassUID, DicomUid.CTImageStorage);
        ds.SetUid(DicomTag.SOPInstanceUID, DicomUid.Generate());
        ds.SetString(DicomTag.StudyDate, Da(options.StudyDateTime));
        ds.SetString(DicomTag.SeriesDate, Da(options.StudyDateTime));
        ds.SetString(DicomTag.ContentDate, Da(options.StudyDateTime));
        ds.SetString(DicomTag.StudyTime, Tm(options.StudyDateTime));
        ds.SetString(DicomTag.SeriesTime, Tm(options.StudyDateTime));
        ds.SetString(DicomTag.ContentTime, Tm(options.StudyDateTime));
        ds.SetString(DicomTag.AccessionNumber, options.AccessionNumber);
        ds.SetString(DicomTag.Modality, "CT");
    }

    /// <summary>Equipment, descriptions (with the synthetic marker) and the Patient module.</summary>
    private static void SetDescriptionsAndPatient(DicomDataset ds, CtSeriesOptions options)
    {
        ds.SetString(DicomTag.Manufacturer, options.Manufacturer);
        if (options.InstitutionName is { } inst)
        {
            ds.SetString(DicomTag.InstitutionName, inst);
        }

        ds.SetString(DicomTag.ReferringPhysicianName, string.Empty);
        ds.SetString(DicomTag.StudyDescription, options.StudyDescription);
        ds.SetString(DicomTag.SeriesDescription, options.SeriesDescription ?? (options.Synthetic ? SyntheticSeriesDescription : "CT"));
        if (options.Synthetic)
        {
            ds.SetString(DicomTag.DerivationDescription, SyntheticMarker);
        }

        ds.SetString(DicomTag.PatientName, options.PatientName);
        ds.SetString(DicomTag.PatientID, options.PatientId);
        ds.SetString(DicomTag.PatientBirthDate, options.PatientBirthDate is { } b ? b.ToString("yyyyMMdd", CultureInfo.InvariantCulture) : string.Empty);
        ds.SetString(DicomTag.PatientSex, options.PatientSex ?? string.Empty);
        if (options.PatientAge is { } age)
        {
            ds.SetString(DicomTag.PatientAge, age);
        }
    }

    /// <summary>CT acquisition attributes and the study/series/instance hierarchy.</summary>
    private static void SetAcquisitionAndHierarchy(DicomDataset ds, CtSeriesOptions options, string study, string series, double sz, int instanceNumber)
    {
        ds.SetString(DicomTag.BodyPartExamined, options.BodyPartExamined);
        ds.SetDouble(DicomTag.SliceThickness, sz);
        if (options.ConvolutionKernel is { } kernel)
        {
            ds.SetString(DicomTag.ConvolutionKernel, kernel);
        }

        ds.SetString(DicomTag.PatientPosition, "HFS");
        ds.SetUid(DicomTag.StudyInstanceUID, study);
        ds.SetUid(DicomTag.SeriesInstanceUID, series);
        ds.SetString(DicomTag.StudyID, options.StudyId);
        ds.SetInt(DicomTag.SeriesNumber, options.SeriesNumber);
        ds.SetInt(DicomTag.InstanceNumber, instanceNumber);
    }

    /// <summary>
    /// Image Plane (PS3.3 §C.7.6.2) and the image comments: IPP is the centre of the first transmitted pixel; IOP holds the
    /// row direction (increasing column index = Volume X axis) then the column direction (Volume Y axis).
    /// </summary>
    private static void SetImagePlane(DicomDataset ds, Volume volume, int z, string frame, CtSeriesOptions options)
    {
        var d = volume.Direction;
        var sz = volume.Spacing.Z;
        double px = volume.Origin.X + z * sz * d[6];
        double py = volume.Origin.Y + z * sz * d[7];
        double pz = volume.Origin.Z + z * sz * d[8];
        ds.SetDouble(DicomTag.ImagePositionPatient, px, py, pz);
        ds.SetDouble(DicomTag.ImageOrientationPatient, d[0], d[1], d[2], d[3], d[4], d[5]);
        ds.SetUid(DicomTag.FrameOfReferenceUID, frame);
        ds.SetString(DicomTag.PositionReferenceIndicator, string.Empty);
        double normalPos = px * d[6] + py * d[7] + pz * d[8];
        ds.SetDouble(DicomTag.SliceLocation, Math.Round(normalPos, 4));
        var comments = options.Synthetic ? string.Join(' ', new[] { options.ImageComments, SyntheticMarker }.Where(s => !string.IsNullOrEmpty(s))) : options.ImageComments;
        if (!string.IsNullOrEmpty(comments))
        {
            ds.SetString(DicomTag.ImageComments, comments);
        }
    }

    /// <summary>Image Pixel (PS3.3 §C.7.6.3): MONOCHROME2, 16 bits signed; the CT Image rescale to HU and the pixels of slice <paramref name="z"/>.</summary>
    private static void SetImagePixel(DicomDataset ds, Volume volume, int z, CtSeriesOptions options)
    {
        var (_, sy, sx) = volume.Spacing;
        ds.SetInt(DicomTag.SamplesPerPixel, 1);
        ds.SetString(DicomTag.PhotometricInterpretation, "MONOCHROME2");
        ds.SetInt(DicomTag.Rows, volume.Height);
        ds.SetInt(DicomTag.Columns, volume.Width);
        ds.SetDouble(DicomTag.PixelSpacing, sy, sx);
        ds.SetInt(DicomTag.BitsAllocated, 16);
        ds.SetInt(DicomTag.BitsStored, 16);
        ds.SetInt(DicomTag.HighBit, 15);
        ds.SetInt(DicomTag.PixelRepresentation, 1);
        if (options.Synthetic)
        {
            ds.SetString(DicomTag.BurnedInAnnotation, "NO");
        }

        ds.SetDouble(DicomTag.WindowCenter, options.WindowCenter);
        ds.SetDouble(DicomTag.WindowWidth, options.WindowWidth);
        ds.SetDouble(DicomTag.RescaleIntercept, options.RescaleIntercept);
        ds.SetDouble(DicomTag.RescaleSlope, options.RescaleSlope);
        ds.SetString(DicomTag.RescaleType, "HU");
        ds.SetBytes(DicomTag.PixelData, DicomVR.OW, EncodeSlice(volume.Slice(z), options.RescaleSlope, options.RescaleIntercept));
    }

    /// <summary>Writes the series into <paramref name="directory"/> as Part 10 files named by SOP Instance UID; returns their paths in slice order.</summary>
    public static async Task<IReadOnlyList<string>> WriteAsync(Volume volume, string directory, CtSeriesOptions options, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        var paths = new List<string>();
        foreach (var ds in CreateInstances(volume, options))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = Path.Combine(directory, ds.GetUid(DicomTag.SOPInstanceUID) + ".dcm");
            await new DicomFile(ds, options.TransferSyntax).SaveAsync(path, cancellationToken).ConfigureAwait(false);
            paths.Add(path);
        }

        return paths;
    }

    private static byte[] EncodeSlice(ReadOnlySpan<float> hu, double slope, double intercept)
    {
        var bytes = new byte[hu.Length * 2];
        for (int i = 0; i < hu.Length; i++)
        {
            double stored = Math.Round((hu[i] - intercept) / slope);
            short v = (short)Math.Clamp(double.IsNaN(stored) ? 0 : stored, short.MinValue, short.MaxValue);
            bytes[2 * i] = (byte)v;
            bytes[2 * i + 1] = (byte)(v >> 8);
        }

        return bytes;
    }

    private static string Da(DateTime t) => t.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    private static string Tm(DateTime t) => t.ToString("HHmmss.ffffff", CultureInfo.InvariantCulture);
}
