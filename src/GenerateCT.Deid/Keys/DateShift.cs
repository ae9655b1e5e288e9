using System.Globalization;

namespace GenerateCT.Deid.Keys;

/// <summary>Shifts DICOM DA and DT values by whole days, keeping each value's precision (PS3.5 §6.2).</summary>
internal static class DateShift
{
    /// <summary>Shifts a DA value (YYYYMMDD, or the partial YYYY / YYYYMM forms); null when it is not a date.</summary>
    public static string? ShiftDa(string value, int days)
    {
        var v = value.Trim();
        if (v.Length == 0)
            return v;
        switch (v.Length)
        {
            case 8 when DateOnly.TryParseExact(v, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d):
                return d.AddDays(days).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            // ACR-NEMA style dates some old modalities still write.
            case 10 when DateOnly.TryParseExact(v, "yyyy.MM.dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d2):
                return d2.AddDays(days).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            case 6 when DateOnly.TryParseExact(v + "15", "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var m):
                return m.AddDays(days).ToString("yyyyMM", CultureInfo.InvariantCulture);
            case 4 when DateOnly.TryParseExact(v + "0701", "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var y):
                return y.AddDays(days).ToString("yyyy", CultureInfo.InvariantCulture);
            default:
                return null;
        }
    }

    /// <summary>Shifts the date part of a DT value (YYYYMMDDHHMMSS.FFFFFF&amp;ZZXX); the time part is kept.</summary>
    public static string? ShiftDt(string value, int days)
    {
        var v = value.Trim();
        if (v.Length < 8)
            return ShiftDa(v, days);
        var date = ShiftDa(v[..8], days);
        return date is null ? null : date + v[8..];
    }
}
