using GenerateCT.Data.Audit;

namespace GenerateCT.Node.Audit;

/// <summary>Where ingest and the jobs record their security-relevant events (the node's audit chain).</summary>
public interface INodeAudit
{
    /// <param name="actor">Who: "dicom:AE@address", "system", a user.</param>
    /// <param name="action">What, e.g. "dicom:association", "ingest:deidentify", "ingest:quarantine".</param>
    /// <param name="outcome">"success", "denied", "failure".</param>
    /// <param name="detail">JSON details; never PHI.</param>
    Task RecordAsync(string actor, string action, string outcome, string? detail, CancellationToken cancellationToken);
}

/// <summary>Node events go to the node's hash-chained audit trail.</summary>
internal sealed class ChainedNodeAudit(AuditTrail trail) : INodeAudit
{
    public Task RecordAsync(string actor, string action, string outcome, string? detail, CancellationToken cancellationToken) =>
        trail.AppendAsync(new AuditEntry(actor, action, outcome, detail), cancellationToken);
}
