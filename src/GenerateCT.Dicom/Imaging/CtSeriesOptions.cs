namespace GenerateCT.Dicom.Imaging;

/// <summary>Patient, study and series attributes of a CT series written by <see cref="CtSeriesWriter"/>.</summary>
public sealed class CtSeriesOptions
{
    public string PatientName { get; set; } = string.Empty;

    public string PatientId { get; set; } = string.Empty;

    /// <summary>Age string (AS), e.g. "065Y".</summary>
    public string? PatientAge { get; set; }

    /// <summary>"M", "F", "O" or null (unknown).</summary>
    public string? PatientSex { get; set; }

    public DateOnly? PatientBirthDate { get; set; }

    public string AccessionNumber { get; set; } = string.Empty;

    public DateTime StudyDateTime { get; set; } = DateTime.UtcNow;

    public string StudyDescription { get; set; } = string.Empty;

    /// <summary>Default: "CT" or, when synthetic, <see cref="CtSeriesWriter.SyntheticSeriesDescription"/>.</summary>
    public string? SeriesDescription { get; set; }

    public string StudyId { get; set; } = "1";

    public int SeriesNumber { get; set; } = 1;

    public string BodyPartExamined { get; set; } = "CHEST";

    public string Manufacturer { get; set; } = "GenerateCT";

    public string? InstitutionName { get; set; }

    public string? ConvolutionKernel { get; set; }

    /// <summary>Free text for Image Comments (0020,4000); synthetic series append the marker to it.</summary>
    public string? ImageComments { get; set; }

    public string? StudyInstanceUid { get; set; }

    public string? SeriesInstanceUid { get; set; }

    public string? FrameOfReferenceUid { get; set; }

    /// <summary>Stored value = (HU − intercept) / slope, rounded and clamped to int16 (PS3.3 §C.11.1.1.2).</summary>
    public double RescaleIntercept { get; set; }

    public double RescaleSlope { get; set; } = 1;

    public double WindowCenter { get; set; } = -600;

    public double WindowWidth { get; set; } = 1500;

    /// <summary>
    /// Marks every instance as synthetic (generated, not acquired): Image Type DERIVED\SECONDARY\AXIAL,
    /// Burned In Annotation NO, the synthetic series description, and Derivation Description (0008,2111)
    /// and Image Comments (0020,4000) containing <see cref="CtSeriesWriter.SyntheticMarker"/>.
    /// </summary>
    public bool Synthetic { get; set; }

    public DicomTransferSyntax TransferSyntax { get; set; } = DicomTransferSyntax.ExplicitVRLittleEndian;
}
