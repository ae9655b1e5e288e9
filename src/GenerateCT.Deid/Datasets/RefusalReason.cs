namespace GenerateCT.Deid.Datasets;

/// <summary>Why an instance was not de-identified.</summary>
public enum RefusalReason
{
    Modality,
    BurnedInAnnotation,
    SecondaryCapture,
    MissingIdentity,
}
