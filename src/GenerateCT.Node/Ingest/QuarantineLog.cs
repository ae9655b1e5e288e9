using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Node.Audit;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Ingest;

/// <summary>Records a refused instance: one quarantine row for the data steward and one audit row.</summary>
internal sealed class QuarantineLog(IDbContextFactory<NodeDb> databases, INodeAudit audit)
{
    public async Task RecordAsync(string sourceAe, string actor, string reason, string fileName, CancellationToken ct)
    {
        await using (var db = await databases.CreateDbContextAsync(ct))
        {
            db.Quarantine.Add(new QuarantinedInstance { Id = Guid.NewGuid(), Reason = Truncate(reason, 512), SourceAe = Truncate(sourceAe, 16), FileName = fileName, ReceivedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(ct);
        }

        await audit.RecordAsync(actor, "ingest:quarantine", "failure", JsonSerializer.Serialize(new { reason, file = fileName }), ct);
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
