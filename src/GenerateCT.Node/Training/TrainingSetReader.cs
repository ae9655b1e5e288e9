using GenerateCT.Data.Node;
using GenerateCT.Imaging;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Training;
using GenerateCT.Node.Ingest;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Training;

/// <summary>
/// One assembled, de-identified volume of the store and, when its study's report has arrived, the scrubbed
/// prompt and the findings its impression names. Pseudonymous keys only.
/// </summary>
internal sealed record TrainingSetEntry(string SeriesKey, string VolumePath, string? Prompt, IReadOnlyList<string> Findings)
{
    /// <summary>Text-conditioned stages (MaskGIT, SR) need the prompt; CT-ViT learns from every volume.</summary>
    public bool HasReport => Prompt is not null;
}

/// <summary>What the DataSteward sees of the training set: counts only, never text or keys.</summary>
internal sealed record TrainingSetSummary(int Volumes, int WithReport, IReadOnlyDictionary<string, int> Findings)
{
    /// <summary>Volumes no report (with a prompt) is linked to: usable for CT-ViT only.</summary>
    public int WithoutReport => Volumes - WithReport;

    /// <summary>Samples a stage can train on (volumes; SR trains on their slices, one sample per volume here).</summary>
    public int SamplesFor(ModelStage stage) => stage == ModelStage.CtVit ? Volumes : WithReport;
}

/// <summary>
/// The node's training set: the volumes series assembly wrote (training_samples) joined to the scrubbed
/// report prompts of their studies, through the pseudonymous accession number both sides carry. A split
/// series ("KEY#1", one volume per consistent part) shares its series' report. When several reports name one
/// accession, the newest with a prompt wins (an addendum replaces the original).
/// </summary>
internal sealed class TrainingSetReader(IDbContextFactory<NodeDb> databases, NodeStorage storage)
{
    public async Task<IReadOnlyList<TrainingSetEntry>> ReadAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var samples = await db.TrainingSamples.AsNoTracking().OrderBy(t => t.CreatedAt).ThenBy(t => t.SeriesKey).ToListAsync(ct);
        var accessions = await db.Series.AsNoTracking()
            .Where(s => s.State == SeriesStates.Assembled && s.AccessionKey != null)
            .ToDictionaryAsync(s => s.SeriesKey, s => s.AccessionKey!, ct);
        var reports = (await db.Reports.AsNoTracking().Where(r => r.Prompt != null).OrderBy(r => r.ReceivedAt).ToListAsync(ct))
            .GroupBy(r => r.AccessionKey, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var entries = new List<TrainingSetEntry>(samples.Count);
        foreach (var sample in samples)
        {
            var series = sample.SeriesKey.Split('#', 2)[0];
            StoredReport? report = null;
            if (accessions.TryGetValue(series, out var accession))
            {
                reports.TryGetValue(accession, out report);
            }

            entries.Add(new TrainingSetEntry(
                sample.SeriesKey,
                sample.VolumePath,
                report?.Prompt,
                report is null ? [] : ReportFindings.Of(report.Prompt, report.ScrubbedText)));
        }

        return entries;
    }

    public async Task<TrainingSetSummary> SummarizeAsync(CancellationToken ct)
    {
        var entries = await ReadAsync(ct);
        var findings = ReportFindings.Names.ToDictionary(n => n, _ => 0, StringComparer.Ordinal);
        foreach (var finding in entries.SelectMany(e => e.Findings))
        {
            findings[finding]++;
        }

        return new TrainingSetSummary(entries.Count, entries.Count(e => e.HasReport), findings);
    }

    /// <summary>
    /// The cases a stage trains on, as `gct train all` reads them from a phantom folder: every volume for
    /// CT-ViT (its prompt empty when it has no report), only volumes with a prompt for MaskGIT and SR.
    /// </summary>
    public async Task<IReadOnlyList<TrainingCase>> LoadCasesAsync(ModelStage stage, CancellationToken ct)
    {
        var cases = new List<TrainingCase>();
        foreach (var entry in await ReadAsync(ct))
        {
            if (stage != ModelStage.CtVit && !entry.HasReport)
            {
                continue;
            }

            cases.Add(new TrainingCase(await ReadVolumeAsync(entry, ct), entry.Prompt ?? ""));
        }

        return cases;
    }

    private async Task<Volume> ReadVolumeAsync(TrainingSetEntry entry, CancellationToken ct)
    {
        var path = Path.Combine(storage.Store, entry.VolumePath);
        try
        {
            return (await NiftiFile.ReadAsync(path, ct)).Volume;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ImagingException)
        {
            throw new InvalidDataException($"training volume of series {entry.SeriesKey} ({entry.VolumePath}) cannot be read: {e.Message}", e);
        }
    }
}
