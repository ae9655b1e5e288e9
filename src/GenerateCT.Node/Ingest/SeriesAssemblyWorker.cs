using System.Text.Json;
using GenerateCT.Data.Node;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Node.Audit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// Turns de-identified series that have been idle for <see cref="IngestOptions.SeriesIdleSeconds"/>
/// into HU volumes (sorted along the slice normal, rescaled, spacing checked; one volume per
/// consistent part) stored as NIfTI under store/volumes, each one a training-set entry. Series that
/// cannot become a volume are marked rejected with the reason.
/// </summary>
internal sealed class SeriesAssemblyWorker(
    IOptions<IngestOptions> ingestOptions,
    NodeStorage storage,
    IDbContextFactory<NodeDb> databases,
    INodeAudit audit,
    ILogger<SeriesAssemblyWorker> log) : BackgroundService
{
    private readonly IngestOptions _options = ingestOptions.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.SeriesIdleSeconds / 2.0, 0.5, 10));
        using var timer = new PeriodicTimer(period);
        do
        {
            try
            {
                await AssembleIdleSeriesAsync(stoppingToken);
            }
            catch (Exception e) when (e is IOException or DbUpdateException or Npgsql.NpgsqlException)
            {
                log.LogError(e, "series assembly pass failed; retrying");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    internal async Task AssembleIdleSeriesAsync(CancellationToken ct)
    {
        var idleSince = DateTimeOffset.UtcNow - TimeSpan.FromSeconds(_options.SeriesIdleSeconds);
        List<string> due;
        await using (var db = await databases.CreateDbContextAsync(ct))
        {
            due = await db.Series.Where(s => s.State == SeriesStates.Receiving && s.LastInstanceAt < idleSince).Select(s => s.SeriesKey).ToListAsync(ct);
        }

        foreach (var key in due)
        {
            await AssembleAsync(key, ct);
        }
    }

    private async Task AssembleAsync(string seriesKey, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var series = await db.Series.SingleAsync(s => s.SeriesKey == seriesKey, ct);
        var paths = await db.Instances.Where(i => i.SeriesKey == seriesKey).Select(i => i.Path).ToListAsync(ct);
        var files = new List<DicomFile>(paths.Count);
        foreach (var relative in paths)
        {
            files.Add(await DicomFile.OpenAsync(Path.Combine(storage.Store, relative), ct));
        }

        var result = SeriesAssembler.Assemble(files, new SeriesAssemblerOptions { SplitInconsistentSpacing = true });
        var old = await db.TrainingSamples.Where(t => t.SeriesKey == seriesKey || t.SeriesKey.StartsWith(seriesKey + "#")).ToListAsync(ct);
        db.TrainingSamples.RemoveRange(old);
        var volumes = Path.Combine(storage.Store, "volumes");
        Directory.CreateDirectory(volumes);
        for (int i = 0; i < result.Volumes.Count; i++)
        {
            var part = result.Volumes[i];
            var key = i == 0 ? seriesKey : $"{seriesKey}#{i}";
            var relative = Path.Combine("volumes", key.Replace('#', '_') + ".nii.gz");
            await NiftiFile.WriteAsync(part.Volume, Path.Combine(storage.Store, relative), cancellationToken: ct);
            db.TrainingSamples.Add(new TrainingSample
            {
                Id = Guid.NewGuid(),
                SeriesKey = key,
                VolumePath = relative,
                Depth = part.Volume.Depth,
                Height = part.Volume.Height,
                Width = part.Volume.Width,
                CreatedAt = DateTimeOffset.UtcNow,
            });
        }

        series.State = result.Volumes.Count > 0 ? SeriesStates.Assembled : SeriesStates.Rejected;
        series.Reason = result.Rejected.Count > 0 ? string.Join("; ", result.Rejected.Select(r => r.Reason)) : null;
        if (series.Reason is { Length: > 1024 })
        {
            series.Reason = series.Reason[..1024];
        }

        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(
            "system",
            "ingest:assemble",
            result.Volumes.Count > 0 ? "success" : "failure",
            JsonSerializer.Serialize(new { series = seriesKey, volumes = result.Volumes.Select(v => new[] { v.Volume.Depth, v.Volume.Height, v.Volume.Width }), rejected = result.Rejected.Select(r => r.Reason) }),
            ct);
    }
}
