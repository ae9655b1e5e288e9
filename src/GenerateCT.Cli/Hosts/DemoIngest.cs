using System.Globalization;
using GenerateCT.Cli.Imaging;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Network;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;
using GenerateCT.Node;
using Microsoft.EntityFrameworkCore;
using Spectre.Console;

namespace GenerateCT.Cli.Hosts;

/// <summary>
/// The hospital half of the demo: synthetic patients (phantom CTs with identifying data planted)
/// are pushed to the node as a PACS would (DICOM C-STORE) and their reports sent as a RIS would
/// (HL7 ORU^R01 over MLLP); the node de-identifies, stores and assembles them, and the audit chain
/// records it all.
/// </summary>
internal static class DemoIngest
{
    public sealed record Result(string PhantomDirectory, IReadOnlyList<PhantomCase> Cases);

    public static async Task<Result> RunAsync(NodeHost node, string root, int count, int slices, int size, string folder, int firstSeed, CancellationToken ct)
    {
        var phantomDir = Path.Combine(root, folder);
        Directory.CreateDirectory(phantomDir);
        var cases = new List<PhantomCase>();
        var kinds = new[] { FindingKind.Cardiomegaly, FindingKind.PleuralEffusion, FindingKind.LungNodules, FindingKind.Emphysema };
        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var generate = ctx.AddTask($"Phantom patients ({slices}×{size}×{size})", maxValue: count);
                for (int i = 0; i < count; i++)
                {
                    var spec = new PhantomSpec { Seed = firstSeed + i, Slices = slices, Size = size, FindingKinds = i % 3 == 2 ? [] : [kinds[i % kinds.Length]], PlantPhi = true };
                    var phantom = await Task.Run(() => ChestPhantomGenerator.Generate(spec), ct);
                    var stem = $"case-{spec.Seed:D4}";
                    await PhantomCaseWriter.WriteAsync(phantom, phantomDir, stem, ct);
                    await DicomSeries.WritePhantomAsync(phantom, phantomDir, stem, ct);
                    cases.Add(phantom);
                    generate.Increment(1);
                }

                var files = Directory.GetDirectories(phantomDir, "*-dicom").SelectMany(d => Directory.GetFiles(d, "*.dcm")).Order().ToList();
                var push = ctx.AddTask($"C-STORE to {node.Options.AeTitle}:{node.DicomPort}", maxValue: files.Count);
                var loaded = new List<DicomFile>(files.Count);
                foreach (var f in files)
                {
                    loaded.Add(await DicomFile.OpenAsync(f, ct));
                }

                await using var client = await DicomClient.ConnectForFilesAsync(
                    new DicomClientOptions { Host = "127.0.0.1", Port = node.DicomPort, CalledAeTitle = node.Options.AeTitle, CallingAeTitle = "DEMO_PACS" }, loaded, ct);
                foreach (var file in loaded)
                {
                    var status = await client.StoreAsync(file, ct);
                    if (status.Code != DicomStatus.Success.Code)
                    {
                        throw new InvalidOperationException($"the node refused an instance: {status}");
                    }

                    push.Increment(1);
                }

                await client.ReleaseAsync(ct);

                var reports = ctx.AddTask("HL7 ORU^R01 reports over MLLP", maxValue: count);
                foreach (var phantom in cases)
                {
                    var ack = await SendReportAsync(node.Hl7Port ?? throw new InvalidOperationException("HL7 ingest is off"), phantom, ct);
                    if (!ack.Contains("MSA|AA", StringComparison.Ordinal))
                    {
                        throw new InvalidOperationException($"the node did not accept a report: {ack}");
                    }

                    reports.Increment(1);
                }
            });

        await AnsiConsole.Status().StartAsync("Node de-identifies, stores and assembles the series…", async _ =>
        {
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (true)
            {
                await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                if (await db.TrainingSamples.CountAsync(ct) >= count && await db.Reports.CountAsync(ct) >= count)
                {
                    break;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("the node did not assemble the pushed series within 3 minutes");
                }

                await Task.Delay(500, ct);
            }
        });

        await ShowStoreAsync(node, ct);
        return new Result(phantomDir, cases);
    }

    private static async Task ShowStoreAsync(NodeHost node, CancellationToken ct)
    {
        await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
        var rows = await db.Series.OrderBy(s => s.CreatedAt).ToListAsync(ct);
        var samples = await db.TrainingSamples.ToDictionaryAsync(t => t.SeriesKey, ct);
        var prompts = await db.Reports.ToListAsync(ct);
        var table = new Table().Title("Node store (pseudonymous keys only)").AddColumns("series key", "instances", "state", "volume", "prompt (scrubbed report)");
        foreach (var s in rows)
        {
            var volume = samples.TryGetValue(s.SeriesKey, out var t) ? $"{t.Depth}×{t.Height}×{t.Width}" : "-";
            var prompt = prompts.FirstOrDefault(r => r.AccessionKey == s.AccessionKey)?.Prompt ?? "(no report)";
            table.AddRow(Markup.Escape(s.SeriesKey[..Math.Min(22, s.SeriesKey.Length)] + "…"), s.InstanceCount.ToString(CultureInfo.InvariantCulture), s.State, volume, Markup.Escape(prompt));
        }

        AnsiConsole.Write(table);
        var quarantined = await db.Quarantine.CountAsync(ct);
        var verification = await new AuditTrail(node.DatabaseConnectionString).VerifyAsync(ct);
        AnsiConsole.MarkupLineInterpolated($"Quarantined: {quarantined} · audit chain: [bold]{(verification.Intact ? "intact" : "BROKEN")}[/] ({verification.RowsChecked} rows)");
    }

    /// <summary>An ORU^R01 as a RIS would send it, identifiers included (the node scrubs them).</summary>
    private static async Task<string> SendReportAsync(int port, PhantomCase phantom, CancellationToken ct)
    {
        var phi = phantom.Phi ?? throw new InvalidOperationException("demo phantoms carry planted identifiers");
        var d = Hl7Delimiters.Default;
        var (given, family) = phi.PatientName.Split(' ', 2) is [var g, var f] ? (g, f) : (phi.PatientName, "");
        var text = Hl7Escaping.Escape(phantom.Report.Text, d).Replace("\n", "\\.br\\", StringComparison.Ordinal);
        var message =
            $"MSH|^~\\&|DEMO_RIS|HOSPITAL|GCT|NODE|{DateTime.UtcNow:yyyyMMddHHmmss}||ORU^R01^ORU_R01|DEMO{phantom.Seed}|P|2.5.1\r" +
            $"PID|1||{phi.MedicalRecordNumber}^^^HOSPITAL^MR||{family}^{given}||{phi.BirthDate:yyyyMMdd}|{(phantom.Sex == PatientSex.Male ? "M" : "F")}\r" +
            $"OBR|1||{phi.AccessionNumber}|71250^CT CHEST^CPT|||{phi.StudyDate:yyyyMMdd}0900\r" +
            $"OBX|1|TX|71250&GDT^Report^L||{text}||||||F\r";
        return await MllpClient.SendAsync("127.0.0.1", port, message, ct);
    }
}
