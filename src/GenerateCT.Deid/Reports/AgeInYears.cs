namespace GenerateCT.Deid.Reports;

/// <summary>A patient's age in whole years, from the birth date and the date of the examination.</summary>
internal static class AgeInYears
{
    /// <summary>Whole years from <paramref name="birth"/> to <paramref name="at"/>; null when either is unknown or <paramref name="at"/> is before birth.</summary>
    public static int? At(DateOnly? birth, DateOnly? at)
    {
        if (birth is not { } b || at is not { } a || a < b)
            return null;
        var age = a.Year - b.Year;
        if (a < b.AddYears(age))
            age--;
        return age;
    }
}
