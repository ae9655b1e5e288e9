namespace GenerateCT.Data.Audit;

/// <summary>What happened, as the caller reports it; the trail adds time, sequence and hashes.</summary>
/// <param name="Actor">Who: a user's name, a peer AE title and address, or "system".</param>
/// <param name="Action">What, e.g. "grpc:/generatect.admin.v1.NodeAdmin/GetStatus" or "dicom:association".</param>
/// <param name="Outcome">"success", "denied" or "failure".</param>
/// <param name="Detail">A JSON object with further facts (never PHI), or null.</param>
public sealed record AuditEntry(string Actor, string Action, string Outcome, string? Detail = null);

/// <summary>One stored row of the chain, as read back.</summary>
public sealed record AuditRecord(
    long Sequence,
    DateTimeOffset OccurredAt,
    string Actor,
    string Action,
    string Outcome,
    string? Detail,
    byte[] PreviousHash,
    byte[] Hash);

/// <summary>The result of walking the chain from its first row.</summary>
/// <param name="Intact">True when every row links to its predecessor and its hash matches its contents.</param>
/// <param name="RowsChecked">Rows read (up to and including the first broken one).</param>
/// <param name="FirstBrokenRow">Sequence number of the first row that fails a check; 0 when intact.</param>
/// <param name="Problem">What is wrong with that row; empty when intact.</param>
/// <param name="HeadHash">Hash of the last row (keep it elsewhere to detect truncation of the tail later).</param>
public sealed record AuditVerification(bool Intact, long RowsChecked, long FirstBrokenRow, string Problem, byte[] HeadHash);
