using System.Globalization;

namespace GenerateCT.Dicom;

/// <summary>DICOM dates (VR DA, PS3.5 §6.2): <c>YYYYMMDD</c>.</summary>
public static class DicomDate
{
    /// <summary>The date of a DA value (the first eight characters after trimming), or null when absent or not a date.</summary>
    public static DateOnly? Parse(string? value) =>
        value is { Length: >= 8 } && DateOnly.TryParseExact(value.Trim()[..8], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;
}
