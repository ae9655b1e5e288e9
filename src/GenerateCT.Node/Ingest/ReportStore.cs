using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Deid.Reports;
using GenerateCT.Node.Audit;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// Stores a de-identified report with its prompt, linked to its study by the pseudonymous accession
/// number, whichever way it came (DICOM SR, HL7 ORU, admin upload), and audits it.
/// </summary>
public sealed class ReportStore(IDbContextFactory<NodeDb> databases, INodeAudit audit)
{
    /// <returns>The stored report's id and whether a series with the same accession is already in the store.</returns>
    public async Task<(Guid Id, bool LinkedToSeries)> SaveAsync(DeidentifiedReport report, string source, string actor, CancellationToken ct)
    {
        if (report.PseudonymousAccessionNumber is null)
        {
            throw new ArgumentException("the report has no accession number to link it to a study", nameof(report));
        }

        var id = Guid.NewGuid();
        bool linked;
        await using (var db = await databases.CreateDbContextAsync(ct))
        {
            db.Reports.Add(new StoredReport
            {
                Id = id,
                AccessionKey = report.PseudonymousAccessionNumber,
                Source = source,
                ScrubbedText = report.Text,
                Prompt = report.Prompt,
                ReceivedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync(ct);
            linked = db.Series.Any(s => s.AccessionKey == report.PseudonymousAccessionNumber);
        }

        await audit.RecordAsync(actor, "ingest:report", "success", JsonSerializer.Serialize(new { report = id, accession = report.PseudonymousAccessionNumber, source, scrubbed = report.ScrubbedSpans, linked }), ct);
        return (id, linked);
    }
}
