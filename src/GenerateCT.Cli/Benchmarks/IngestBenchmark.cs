using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Dicom.Network;
using GenerateCT.Imaging;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench ingest`: dcmtk's storescu pushes the same N CT instances over loopback to our SCP
/// (durable: fsync + atomic rename per instance before the response) and to dcmtk's storescp
/// (writes without fsync); reports images/s of each and their ratio as JSON. dcmtk leaves Nagle's
/// algorithm on unless TCP_NODELAY=1 is set, which stalls every C-STORE response on delayed ACKs;
/// the comparison runs dcmtk with TCP_NODELAY=1 (our SCP always sets it) and also reports storescp
/// with dcmtk's default, and our SCP with a non-durable handler, for reference.
/// </summary>
internal static class IngestBenchmark
{
    public static Command Create()
    {
        var cmd = new Command("ingest", "C-STORE throughput: storescu → our SCP vs storescu → storescp, over loopback.");
        var count = new Option<int>("--count") { Description = "Instances to send (≥ 500 for a reportable run).", DefaultValueFactory = _ => 500 };
        var size = new Option<int>("--size") { Description = "Rows and columns of each instance.", DefaultValueFactory = _ => 512 };
        var output = new Option<FileInfo>("--out") { Description = "JSON report path.", DefaultValueFactory = _ => new FileInfo("bench-ingest.json") };
        var work = new Option<DirectoryInfo?>("--work-dir") { Description = "Scratch directory (default: a temp folder, deleted afterwards)." };
        cmd.Options.Add(count);
        cmd.Options.Add(size);
        cmd.Options.Add(output);
        cmd.Options.Add(work);
        cmd.SetAction(async (p, ct) =>
        {
            int n = p.GetValue(count);
            int s = p.GetValue(size);
            var dir = p.GetValue(work)?.FullName ?? Path.Combine(Path.GetTempPath(), $"gct-bench-ingest-{Guid.NewGuid():N}");
            bool cleanup = p.GetValue(work) is null;
            try
            {
                var report = await RunAsync(n, s, dir, ct);
                var json = report.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
                var path = p.GetValue(output)!.FullName;
                await File.WriteAllTextAsync(path, json, ct);
                Console.WriteLine(json);
                Console.Error.WriteLine($"report written to {path}");
                return 0;
            }
            finally
            {
                if (cleanup && Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        });
        return cmd;
    }

    private static async Task<JsonObject> RunAsync(int n, int size, string dir, CancellationToken ct)
    {
        var input = Path.Combine(dir, "input");
        Directory.CreateDirectory(input);
        long bytes = await WriteInstancesAsync(n, size, input, ct);

        // Warm up both receivers (JIT, page cache), then measure.
        var warm = Path.Combine(dir, "warmup");
        Directory.CreateDirectory(warm);
        foreach (var f in Directory.EnumerateFiles(input).Take(20))
        {
            File.Copy(f, Path.Combine(warm, Path.GetFileName(f)));
        }

        var ours = await MeasureOursAsync(input, warm, Path.Combine(dir, "ours"), n, durable: true, ct);
        var oursNoFsync = await MeasureOursAsync(input, warm, Path.Combine(dir, "ours-nofsync"), n, durable: false, ct);
        var dcmtk = await MeasureStorescpAsync(input, warm, Path.Combine(dir, "storescp"), n, noDelay: true, ct);
        var dcmtkDefault = await MeasureStorescpAsync(input, warm, Path.Combine(dir, "storescp-default"), n, noDelay: false, ct);
        return new JsonObject
        {
            ["benchmark"] = "ingest",
            ["instances"] = n,
            ["rows"] = size,
            ["columns"] = size,
            ["bytes_per_instance"] = bytes / n,
            ["sender"] = "storescu (dcmtk) -xe, TCP_NODELAY=1, one association, loopback",
            ["ours"] = ours,
            ["storescp"] = dcmtk,
            ["storescp_dcmtk_default_nagle_on"] = dcmtkDefault,
            ["ours_plain_write_handler"] = oursNoFsync,
            ["ratio_ours_over_storescp"] = Math.Round(ours["images_per_s"]!.GetValue<double>() / dcmtk["images_per_s"]!.GetValue<double>(), 3),
            ["note"] = "ours writes a temp file, fsyncs it, renames it atomically and fsyncs the directory before each C-STORE response; storescp writes without fsync. storescp runs with TCP_NODELAY=1; the _default entry shows dcmtk's default (Nagle on), which stalls on delayed ACKs",
            ["cpu_count"] = Environment.ProcessorCount,
            ["timestamp_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
    }

    private static async Task<long> WriteInstancesAsync(int n, int size, string input, CancellationToken ct)
    {
        var slice = new Volume(1, size, size) { Spacing = (1, 0.7, 0.7) };
        double c = (size - 1) / 2.0;
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                double r = Math.Sqrt((x - c) * (x - c) + (y - c) * (y - c)) / size;
                slice[0, y, x] = r < 0.4 ? (float)(40 * Math.Sin(x * 0.1) + 30 * Math.Cos(y * 0.07)) : -1000;
            }
        }

        var options = new CtSeriesOptions
        {
            PatientName = "Bench^Ingest",
            PatientId = "BENCH",
            StudyInstanceUid = DicomUid.Generate(),
            SeriesInstanceUid = DicomUid.Generate(),
            FrameOfReferenceUid = DicomUid.Generate(),
            Synthetic = true,
        };
        var template = CtSeriesWriter.CreateInstances(slice, options)[0];
        long total = 0;
        for (int i = 0; i < n; i++)
        {
            ct.ThrowIfCancellationRequested();
            var ds = template.Clone();
            ds.SetUid(DicomTag.SOPInstanceUID, DicomUid.Generate());
            ds.SetInt(DicomTag.InstanceNumber, i + 1);
            ds.SetDouble(DicomTag.ImagePositionPatient, 0, 0, i);
            var bytes = new DicomFile(ds).ToBytes();
            total += bytes.Length;
            await File.WriteAllBytesAsync(Path.Combine(input, $"{i:D5}.dcm"), bytes, ct);
        }

        return total;
    }

    private static async Task<JsonObject> MeasureOursAsync(string input, string warm, string outDir, int n, bool durable, CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        ICStoreHandler store = durable
            ? new DurableFileStore(new DurableFileStoreOptions { IncomingDirectory = outDir, QuarantineDirectory = Path.Combine(outDir, "quarantine") })
            : new PlainWriteHandler(outDir);
        await using var listener = new DicomListener(new DicomListenerOptions { AeTitle = "GCT", Port = 0 }, store);
        await listener.StartAsync(ct);
        await StorescuAsync(listener.Port, "GCT", warm, ct);
        foreach (var f in Directory.EnumerateFiles(outDir, "*.dcm"))
        {
            File.Delete(f);
        }

        var seconds = await StorescuAsync(listener.Port, "GCT", input, ct);
        int received = Directory.EnumerateFiles(outDir, "*.dcm").Count();
        return Result(seconds, n, received);
    }

    private static async Task<JsonObject> MeasureStorescpAsync(string input, string warm, string outDir, int n, bool noDelay, CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        int port;
        using (var probe = new TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        using var scp = Start("storescp", ["-aet", "STORESCP", "-od", outDir, port.ToString(CultureInfo.InvariantCulture)], noDelay);
        try
        {
            await WaitForPortAsync(port, ct);
            await StorescuAsync(port, "STORESCP", warm, ct);
            foreach (var f in Directory.EnumerateFiles(outDir))
            {
                File.Delete(f);
            }

            var seconds = await StorescuAsync(port, "STORESCP", input, ct);
            return Result(seconds, n, Directory.EnumerateFiles(outDir).Count());
        }
        finally
        {
            scp.Kill(entireProcessTree: true);
            await scp.WaitForExitAsync(CancellationToken.None);
        }
    }

    /// <summary>Reference only: parse and write without fsync, to separate protocol cost from durability cost.</summary>
    private sealed class PlainWriteHandler(string directory) : ICStoreHandler
    {
        public async Task<DicomStatus> HandleAsync(CStoreRequest request, CancellationToken cancellationToken)
        {
            request.ParseAndValidate();
            await File.WriteAllBytesAsync(Path.Combine(directory, request.SopInstanceUid + ".dcm"), request.ToPart10Bytes(), cancellationToken);
            return DicomStatus.Success;
        }
    }

    private static JsonObject Result(double seconds, int n, int received) => new()
    {
        ["seconds"] = Math.Round(seconds, 3),
        ["images_per_s"] = Math.Round(n / seconds, 1),
        ["received"] = received,
    };

    private static async Task<double> StorescuAsync(int port, string aet, string directory, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        using var p = Start("storescu", ["-xe", "-aet", "BENCH", "-aec", aet, "+sd", "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), directory], noDelay: true);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        _ = p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        sw.Stop();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"storescu to {aet} failed ({p.ExitCode}): {await stderr}");
        }

        return sw.Elapsed.TotalSeconds;
    }

    private static Process Start(string tool, string[] args, bool noDelay)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (noDelay)
        {
            psi.Environment["TCP_NODELAY"] = "1"; // dcmtk: disable Nagle's algorithm
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {tool} (install dcmtk)");
    }

    private static async Task WaitForPortAsync(int port, CancellationToken ct)
    {
        for (int i = 0; i < 300; i++)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync("127.0.0.1", port, ct);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, ct);
            }
        }

        throw new TimeoutException($"storescp did not listen on {port}");
    }
}
