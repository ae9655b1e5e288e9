using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Model.Training;
using GenerateCT.Node.Audit;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Training;

/// <summary>One stage's approval as the steward last left it; never changed = not approved.</summary>
internal sealed record StageApprovalState(ModelStage Stage, bool Approved, string? ChangedBy, DateTimeOffset? ChangedAt);

/// <summary>
/// The DataSteward's decision, per stage, whether this node takes part in federated training of it. A stage
/// is not approved until a steward approves it; every approval and withdrawal is a row of the audit chain
/// with the steward's name. The federation client asks <see cref="IsApprovedAsync"/> before each round.
/// </summary>
internal sealed class StageApprovals(IDbContextFactory<NodeDb> databases, INodeAudit audit)
{
    public const string AuditAction = "training:stage-approval";

    /// <summary>Whether the node may take part in federated rounds of <paramref name="stage"/>.</summary>
    public async Task<bool> IsApprovedAsync(ModelStage stage, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.StageApprovals.AnyAsync(a => a.Stage == stage.Name && a.Approved, ct);
    }

    /// <summary>Every stage in pipeline order.</summary>
    public async Task<IReadOnlyList<StageApprovalState>> ListAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var rows = await db.StageApprovals.AsNoTracking().ToDictionaryAsync(a => a.Stage, ct);
        return [.. ModelStage.All.Select(s => rows.TryGetValue(s.Name, out var r)
            ? new StageApprovalState(s, r.Approved, r.ChangedBy, r.ChangedAt)
            : new StageApprovalState(s, false, null, null))];
    }

    /// <summary>Approves (<paramref name="approved"/>) or withdraws the stage; audited with <paramref name="steward"/> and the previous state.</summary>
    public async Task<StageApprovalState> SetAsync(ModelStage stage, bool approved, string steward, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        bool previous;
        for (var attempt = 1; ; attempt++)
        {
            await using var db = await databases.CreateDbContextAsync(ct);
            var row = await db.StageApprovals.SingleOrDefaultAsync(a => a.Stage == stage.Name, ct);
            previous = row?.Approved ?? false;
            if (row is null)
            {
                db.StageApprovals.Add(row = new StageApproval { Stage = stage.Name });
            }

            row.Approved = approved;
            row.ChangedBy = steward.Length > 256 ? steward[..256] : steward;
            row.ChangedAt = now;
            try
            {
                await db.SaveChangesAsync(ct);
                break;
            }
            catch (DbUpdateException) when (attempt == 1)
            {
                // Another steward created the stage's first row at the same moment: apply this change over theirs.
            }
        }

        await audit.RecordAsync(
            steward,
            AuditAction,
            "success",
            JsonSerializer.Serialize(new { stage = stage.Name, approved, previous }),
            CancellationToken.None);
        return new StageApprovalState(stage, approved, steward, now);
    }
}
