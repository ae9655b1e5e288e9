namespace GenerateCT.Imaging.Reports;

public enum PatientSex
{
    Male,
    Female,
}

/// <summary>The kinds of protected health information planted in synthetic reports (HIPAA Safe Harbor identifiers).</summary>
public enum PhiCategory
{
    PatientName,
    MedicalRecordNumber,
    AccessionNumber,
    Date,
    ReferringPhysician,
}

/// <summary>One planted identifier: its exact text and where it sits in the report text (UTF-16 offsets).</summary>
public sealed record PhiSpan(int Start, int Length, PhiCategory Category, string Text)
{
    public int End => Start + Length;
}

/// <summary>
/// Made-up identifiers for one synthetic patient. Every value is invented from the seed; none belongs to a
/// person. The report writer records exactly where each one lands in the text.
/// </summary>
public sealed record PlantedPhi(
    string PatientName, string MedicalRecordNumber, string AccessionNumber, DateOnly BirthDate, DateOnly StudyDate, DateOnly PriorStudyDate, string ReferringPhysician)
{
    private static readonly string[] MaleGiven = ["James", "Mehmet", "Lukas", "Oliver", "Ahmet", "Daniel", "Pieter", "Marco", "Jonas", "Emre"];
    private static readonly string[] FemaleGiven = ["Maria", "Ayse", "Sophie", "Emma", "Zeynep", "Anna", "Elif", "Laura", "Hannah", "Ines"];
    private static readonly string[] Surnames = ["Hartmann", "Yilmaz", "Novak", "Fischer", "Demir", "Larsen", "Moreau", "Kowalski", "Brennan", "Aydin", "Schneider", "Rossi"];
    private static readonly string[] Physicians = ["Keller", "Sahin", "Dubois", "Weber", "Okafor", "Lindqvist", "Marchetti", "Hoffmann"];

    public static PlantedPhi Sample(Random rng, PatientSex sex, int age)
    {
        var given = sex == PatientSex.Male ? MaleGiven : FemaleGiven;
        var study = new DateOnly(2019, 1, 1).AddDays(rng.Next(6 * 365));
        var birth = study.AddYears(-age).AddDays(-rng.Next(360));
        return new PlantedPhi(
            $"{given[rng.Next(given.Length)]} {Surnames[rng.Next(Surnames.Length)]}",
            $"MRN{rng.Next(1_000_000, 9_999_999)}",
            $"ACC{rng.Next(10_000_000, 99_999_999)}",
            birth,
            study,
            study.AddDays(-30 - rng.Next(700)),
            $"Dr. {"ABCDEFGHJKLMNPRSTW"[rng.Next(18)]}. {Physicians[rng.Next(Physicians.Length)]}");
    }
}
