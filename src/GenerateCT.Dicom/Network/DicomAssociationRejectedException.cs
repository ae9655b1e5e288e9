namespace GenerateCT.Dicom.Network;

/// <summary>The peer rejected the association (A-ASSOCIATE-RJ); <see cref="Rejection"/> says why.</summary>
public sealed class DicomAssociationRejectedException : DicomNetworkException
{
    public DicomAssociationRejectedException(AssociationRejection rejection)
        : base($"association {rejection}")
    {
        Rejection = rejection;
    }

    public AssociationRejection Rejection { get; }
}
