using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Network;
using GenerateCT.Node.Audit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// De-identifies queued instances one at a time: refusals go to quarantine/ with a reason row;
/// accepted CT instances are written de-identified to the store (durably), recorded under their keyed
/// UIDs (so a re-send is not duplicated), and only then is the identified original deleted; Basic
/// Text SR reports are scrubbed and stored with their prompt. Each step is audited. A crash at any
/// point leaves the original in incoming/, and the restart processes it again idempotently.
/// </summary>
internal sealed class IngestWorker(
    IngestQueue queue,
    IOptions<IngestOptions> ingestOptions,
    NodeStorage storage,
    SiteKeys keys,
    IDbContextFactory<NodeDb> databases,
    INodeAudit audit,
    QuarantineLog quarantine,
    ReportStore reportStore,
    ILogger<IngestWorker> log) : BackgroundService
{
    private readonly IngestOptions _options = ingestOptions.Value;
    private readonly DicomQuarantine _quarantineDirectory = new(storage.Quarantine);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var item in queue.ReadAllAsync(stoppingToken))
        {
            try
            {
                await ProcessAsync(item, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return; // the original stays in incoming/ and is resumed at the next start
            }
            catch (Exception e) when (e is IOException or DbUpdateException or Npgsql.NpgsqlException)
            {
                // Infrastructure trouble (disk, database): keep the original, log, and carry on; the
                // next start resumes it.
                log.LogError(e, "ingest of {File} failed; it stays in incoming/ and is retried at the next start", Path.GetFileName(item.Path));
            }
        }
    }

    /// <summary>Processes one received file (also used directly by tests and the resume path).</summary>
    internal async Task ProcessAsync(IngestItem item, CancellationToken ct)
    {
        if (!File.Exists(item.Path))
        {
            return; // already processed (a duplicate queue entry after resume)
        }

        DicomFile file;
        try
        {
            file = await DicomFile.OpenAsync(item.Path, ct);
        }
        catch (Exception e) when (e is DicomParseException or DicomNotSupportedException)
        {
            await QuarantineAsync(item, $"unreadable: {e.Message}", ct);
            return;
        }

        if (BasicTextSrReport.IsTextReport(file.Dataset))
        {
            await StoreReportAsync(item, file, ct);
            return;
        }

        DeidentifiedInstance deid;
        try
        {
            deid = keys.Images.Deidentify(file.Dataset);
        }
        catch (DeidentificationRefusedException e)
        {
            await QuarantineAsync(item, e.Message, ct);
            return;
        }

        var seriesKey = deid.SeriesInstanceUid;
        var relative = Path.Combine("series", seriesKey, deid.SopInstanceUid + ".dcm");
        var target = Path.Combine(storage.Store, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        await DurableFileStore.WriteDurablyAsync(target, new DicomFile(deid.Dataset, file.TransferSyntax).ToBytes(), ct);

        var now = DateTimeOffset.UtcNow;
        bool added;
        await using (var db = await databases.CreateDbContextAsync(ct))
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            added = !await db.Instances.AnyAsync(i => i.SopInstanceKey == deid.SopInstanceUid, ct);
            var series = await db.Series.SingleOrDefaultAsync(s => s.SeriesKey == seriesKey, ct);
            if (series is null)
            {
                series = new IngestedSeries
                {
                    Id = Guid.NewGuid(),
                    SeriesKey = seriesKey,
                    StudyKey = deid.StudyInstanceUid,
                    AccessionKey = deid.PseudonymousAccessionNumber,
                    State = SeriesStates.Receiving,
                    CreatedAt = now,
                };
                db.Series.Add(series);
            }

            if (added)
            {
                db.Instances.Add(new StoredInstance { SopInstanceKey = deid.SopInstanceUid, SeriesKey = seriesKey, Path = relative, ReceivedAt = now });
                series.InstanceCount++;
                series.LastInstanceAt = now;
                if (series.State != SeriesStates.Receiving)
                {
                    series.State = SeriesStates.Receiving; // a late instance: assemble again
                }
            }

            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        RemoveOriginal(item.Path);
        await audit.RecordAsync(
            $"dicom:{item.SourceAe}",
            "ingest:deidentify",
            "success",
            JsonSerializer.Serialize(new { series = seriesKey, instance = deid.SopInstanceUid, duplicate = !added }),
            ct);
    }

    private async Task StoreReportAsync(IngestItem item, DicomFile file, CancellationToken ct)
    {
        DeidentifiedReport report;
        try
        {
            report = keys.Reports.Deidentify(BasicTextSrReport.Read(file.Dataset));
        }
        catch (Exception e) when (e is DicomParseException or FormatException or ArgumentException)
        {
            await QuarantineAsync(item, $"structured report not readable as text: {e.Message}", ct);
            return;
        }

        if (report.PseudonymousAccessionNumber is null)
        {
            await QuarantineAsync(item, "structured report has no accession number to link it to a study", ct);
            return;
        }

        await reportStore.SaveAsync(report, "sr", $"dicom:{item.SourceAe}", ct);
        RemoveOriginal(item.Path);
    }

    private async Task QuarantineAsync(IngestItem item, string reason, CancellationToken ct)
    {
        var name = Path.GetFileName(await _quarantineDirectory.MoveAsync(item.Path, reason, item.SourceAe, null, ct));
        await quarantine.RecordAsync(item.SourceAe, $"dicom:{item.SourceAe}", reason, name, ct);
        log.LogWarning("quarantined {File}: {Reason}", name, reason);
    }

    private void RemoveOriginal(string path)
    {
        if (_options.RetainOriginals)
        {
            Directory.CreateDirectory(storage.Originals);
            File.Move(path, Path.Combine(storage.Originals, Path.GetFileName(path)), overwrite: true);
        }
        else
        {
            File.Delete(path);
        }
    }
}
