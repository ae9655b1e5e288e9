namespace GenerateCT.Deid.Reports;

/// <summary>
/// An identified radiology report as received (HL7 ORU^R01, Basic Text SR or an upload) together
/// with the identifying fields of its own message, which the scrubber removes from the text.
/// </summary>
public sealed record RadiologyReport
{
    /// <summary>The report text, sections and line breaks kept.</summary>
    public required string Text { get; init; }

    /// <summary>The original accession number linking the report to its CT study; null when the source has none.</summary>
    public string? AccessionNumber { get; init; }

    /// <summary>The original patient identifier (MRN); keys the per-patient date shift.</summary>
    public string? PatientId { get; init; }

    /// <summary>Every person named by the message fields: patient, physicians, interpreter, technologist.</summary>
    public IReadOnlyList<PersonName> Names { get; init; } = [];

    /// <summary>Every identifier the message fields carry (MRNs, order numbers, visit and account numbers, phone numbers, address parts).</summary>
    public IReadOnlyList<string> Identifiers { get; init; } = [];

    public DateOnly? BirthDate { get; init; }

    /// <summary>When the examination was performed or observed (OBR-7, SR Content Date).</summary>
    public DateOnly? ObservationDate { get; init; }

    /// <summary>"M", "F", "O" or null.</summary>
    public string? Sex { get; init; }

    /// <summary>Age in whole years at the examination when known from the source (DICOM AS or birth date).</summary>
    public int? AgeYears { get; init; }
}
