using System.Net;

namespace GenerateCT.Dicom.Network;

/// <summary>What happened to an association.</summary>
public enum DicomAssociationOutcome
{
    Accepted,
    Rejected,
    Released,
    Aborted,
    Failed,
}

/// <summary>An association event for the audit log: who, from where, what was received and how it ended.</summary>
public sealed class DicomAssociationEventArgs : EventArgs
{
    public required DicomAssociationOutcome Outcome { get; init; }

    public required IPEndPoint RemoteEndPoint { get; init; }

    public string? CallingAeTitle { get; init; }

    public string? CalledAeTitle { get; init; }

    public bool IsTls { get; init; }

    public DicomAssociationInfo? Association { get; init; }

    public int InstancesStored { get; init; }

    public int InstancesFailed { get; init; }

    /// <summary>Rejection reason, abort cause or failure message.</summary>
    public string? Detail { get; init; }

    public TimeSpan Duration { get; init; }
}
