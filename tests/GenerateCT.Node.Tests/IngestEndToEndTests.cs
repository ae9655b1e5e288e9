using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Node;
using GenerateCT.Deid.Keys;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;
using GenerateCT.Testing;
using GenerateCT.Testing.Dicom;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>The PACS case end to end: real peers push to a real node; nothing identifying reaches its store.</summary>
public class IngestEndToEndTests
{
    // The study description carries the patient's name: Clean Descriptors must scrub it.
    private static readonly string[] Markers = ["ZZMARKNAME", "ZZMARKID4711", "ZZMARKACC99", "ZZMARKHOSP", "ZZMARKREF"];

    internal static IReadOnlyList<DicomDataset> MarkedSeries(int slices, int size, string patient = "1")
    {
        var volume = new Volume(slices, size, size) { Spacing = (2.5, 0.8, 0.8), Origin = (-100, -120, -300) };
        for (int z = 0; z < slices; z++)
        {
            for (int i = 0; i < size * size; i++)
            {
                volume.Voxels[z * size * size + i] = -1000 + (i % size) * 40 + z;
            }
        }

        var ds = CtSeriesWriter.CreateInstances(volume, new CtSeriesOptions
        {
            PatientName = $"ZZMARKNAME{patient}^ALPHA",
            PatientId = "ZZMARKID4711" + patient,
            PatientAge = "064Y",
            PatientSex = "F",
            PatientBirthDate = new DateOnly(1960, 3, 14),
            AccessionNumber = "ZZMARKACC99" + patient,
            InstitutionName = "ZZMARKHOSP General",
            StudyDescription = $"CT CHEST for ZZMARKNAME{patient} ALPHA",
        });
        foreach (var d in ds)
        {
            d.SetString(DicomTag.ReferringPhysicianName, "ZZMARKREF^BOB", DicomVR.PN);
        }

        return ds;
    }

    /// <summary>The test node configuration on a fixed DICOM port, assembling series after one idle second.</summary>
    internal static IConfiguration NodeConfig(string dataDir, int dicomPort, params (string Key, string? Value)[] extra) =>
        TestNodeConfiguration.Create(dataDir, new (string, string?)[] { ("Node:DicomPort", dicomPort.ToString()), ("Node:Ingest:SeriesIdleSeconds", "1") }.Concat(extra).ToArray());

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out after {timeout} waiting for {what}");
            }

            await Task.Delay(250);
        }
    }

    private static List<string> MarkerHits(string directory)
    {
        var hits = new List<string>();
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            var bytes = File.ReadAllBytes(file);
            foreach (var marker in Markers)
            {
                if (bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(marker)) >= 0)
                {
                    hits.Add($"{marker} in {Path.GetRelativePath(directory, file)}");
                }
            }
        }

        return hits;
    }

    [Fact]
    public async Task Orthanc_pushes_a_study_to_the_node_which_stores_it_deidentified_and_audits_it()
    {
        var dir = Scratch.NewDirectory("gct-node-ingest");
        try
        {
            var dicomPort = Scratch.FreePort();
            await using var node = await NodeHost.StartAsync(NodeConfig(dir, dicomPort, ("Node:Ingest:AllowedPeers:0", "ORTHANC@127.0.0.1")));
            using var orthanc = await OrthancProcess.StartAsync(new Dictionary<string, (string, int)> { ["gct"] = (node.Options.AeTitle, dicomPort) });
            string? study = null;
            foreach (var ds in MarkedSeries(6, 32))
            {
                var id = await orthanc.UploadAsync(new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian).ToBytes());
                study ??= (await orthanc.GetJsonAsync($"instances/{id}/study"))["ID"]!.GetValue<string>();
            }

            var reply = await orthanc.StoreToModalityAsync("gct", study!);
            Assert.Equal(6, reply["InstancesCount"]?.GetValue<int>() ?? 6);
            Assert.Equal(0, reply["FailedInstancesCount"]?.GetValue<int>() ?? 0);

            await WaitForAsync(async () =>
            {
                await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                return await db.Instances.CountAsync() == 6;
            }, TimeSpan.FromSeconds(60), "6 de-identified instances in the database");

            await using (var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString))
            {
                var series = await db.Series.SingleAsync();
                Assert.Equal(6, series.InstanceCount);
                Assert.StartsWith("2.25.", series.SeriesKey);
                var actions = await db.AuditEvents.Select(a => a.Action).ToListAsync();
                Assert.Equal(6, actions.Count(a => a == "ingest:deidentify"));
                await WaitForAsync(async () =>
                {
                    await using var db2 = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                    return await db2.AuditEvents.AnyAsync(a => a.Action == "dicom:association" && a.Actor.Contains("ORTHANC"));
                }, TimeSpan.FromSeconds(20), "the association's audit row");
            }

            // The idle series becomes a training volume with the series' geometry.
            await WaitForAsync(async () =>
            {
                await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                return await db.TrainingSamples.AnyAsync();
            }, TimeSpan.FromSeconds(30), "the assembled training volume");
            await using (var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString))
            {
                var sample = await db.TrainingSamples.SingleAsync();
                Assert.Equal((6, 32, 32), (sample.Depth, sample.Height, sample.Width));
                Assert.Equal("assembled", (await db.Series.SingleAsync()).State);
                var nifti = await GenerateCT.Imaging.Nifti.NiftiFile.ReadAsync(Path.Combine(dir, "store", sample.VolumePath));
                Assert.Equal(-1000 + 40, nifti.Volume[0, 0, 1], 1);
            }

            Assert.Empty(Directory.GetFiles(Path.Combine(dir, "incoming"), "*.dcm"));
            Assert.Empty(MarkerHits(Path.Combine(dir, "store")));
            var verification = await new AuditTrail(node.DatabaseConnectionString).VerifyAsync();
            Assert.True(verification.Intact, verification.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Every_table_e1_1_attribute_pushed_by_storescu_is_removed_or_kept_exactly_as_the_node_profile_says()
    {
        var dir = Scratch.NewDirectory("gct-node-e11");
        try
        {
            var dicomPort = Scratch.FreePort();
            await using var node = await NodeHost.StartAsync(NodeConfig(dir, dicomPort));
            var (dataset, markers) = GenerateCT.Deid.Datasets.ProfileMarkers.Build();
            var keys = new KeyedPseudonyms(await SiteSecret.LoadOrCreateAsync(Path.Combine(dir, "secrets", "site.key")));
            dataset.SetString(DicomTag.PatientID, GenerateCT.Deid.Datasets.ProfileMarkers.PatientIdWithLongShift(keys), DicomVR.LO);
            var file = Path.Combine(dir, "markers.dcm");
            await File.WriteAllBytesAsync(file, new DicomFile(dataset, DicomTransferSyntax.ExplicitVRLittleEndian).ToBytes());
            var push = await DcmtkTool.RunAsync("storescu", ["-aec", node.Options.AeTitle, "127.0.0.1", dicomPort.ToString(), file]);
            Assert.True(push.ExitCode == 0, push.Output);

            string? stored = null;
            await WaitForAsync(async () =>
            {
                await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                stored = await db.Instances.Select(i => i.Path).SingleOrDefaultAsync();
                return stored is not null;
            }, TimeSpan.FromSeconds(30), "the de-identified marker instance");

            // The node's default profile: retain characteristics, modified dates, clean descriptors.
            var (leaked, missingKept) = GenerateCT.Deid.Datasets.ProfileMarkers.Scan(
                await File.ReadAllBytesAsync(Path.Combine(dir, "store", stored!)), markers, new GenerateCT.Deid.Datasets.DeidentificationProfile());
            Assert.True(leaked.Count == 0, "leaked: " + string.Join(", ", leaked.Select(m => m.Keyword)));
            Assert.True(missingKept.Count == 0, "expected to be kept: " + string.Join(", ", missingKept.Select(m => m.Keyword)));
            Assert.True(markers.Count > 600, $"only {markers.Count} markers");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task An_mr_instance_is_refused_with_a_failure_status_and_quarantined_with_a_reason()
    {
        var dir = Scratch.NewDirectory("gct-node-ingest");
        try
        {
            var dicomPort = Scratch.FreePort();
            await using var node = await NodeHost.StartAsync(NodeConfig(dir, dicomPort));
            var files = Path.Combine(dir, "push");
            Directory.CreateDirectory(files);
            var ds = MarkedSeries(1, 16)[0];
            ds.SetString(DicomTag.Modality, "MR", DicomVR.CS);
            await File.WriteAllBytesAsync(Path.Combine(files, "mr.dcm"), new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian).ToBytes());
            var push = await DcmtkTool.RunAsync("storescu", ["-aec", node.Options.AeTitle, "127.0.0.1", dicomPort.ToString(), Path.Combine(files, "mr.dcm")]);
            Assert.Equal(0, push.ExitCode);

            await WaitForAsync(async () =>
            {
                await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                return await db.Quarantine.AnyAsync();
            }, TimeSpan.FromSeconds(30), "a quarantine row");
            await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
            var row = await db.Quarantine.SingleAsync();
            Assert.Contains("MR", row.Reason);
            Assert.True(File.Exists(Path.Combine(dir, "quarantine", row.FileName)));
            Assert.Equal(0, await db.Instances.CountAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Killing_the_node_mid_push_loses_no_acknowledged_instance_and_a_resend_adds_no_duplicate()
    {
        var dir = Scratch.NewDirectory("gct-node-kill");
        try
        {
            const int count = 500;
            var files = Path.Combine(dir, "push");
            Directory.CreateDirectory(files);
            var series = MarkedSeries(count, 16);
            for (int i = 0; i < count; i++)
            {
                await File.WriteAllBytesAsync(Path.Combine(files, $"{i:D4}.dcm"), new DicomFile(series[i], DicomTransferSyntax.ExplicitVRLittleEndian).ToBytes());
            }

            var dicomPort = Scratch.FreePort();
            var dataDir = Path.Combine(dir, "node");
            var node = StartNodeProcess(dataDir, dicomPort);
            await WaitForPortAsync(dicomPort, TimeSpan.FromSeconds(90));

            // Push all 500 with storescu; kill -9 the node once 100 responses are in.
            var storescu = DcmtkTool.Start("storescu", ["-v", "-aec", "GCT_NODE", "+sd", "127.0.0.1", dicomPort.ToString(), files]);
            var acknowledged = new List<string>();
            string? current = null;
            var output = new StringBuilder();
            var reader = Task.Run(async () =>
            {
                string? line;
                while ((line = await storescu.StandardError.ReadLineAsync()) is not null)
                {
                    output.AppendLine(line);
                    if (Regex.Match(line, @"Sending file: (.+\.dcm)") is { Success: true } m)
                    {
                        current = m.Groups[1].Value;
                    }
                    else if (line.Contains("Received Store Response (Success)") && current is not null)
                    {
                        lock (acknowledged)
                        {
                            acknowledged.Add(current);
                            if (acknowledged.Count == 100)
                            {
                                node.Kill(entireProcessTree: false); // SIGKILL
                            }
                        }
                    }
                }
            });
            var stdout = storescu.StandardOutput.ReadToEndAsync();
            using (var pushLimit = new CancellationTokenSource(TimeSpan.FromMinutes(5)))
            {
                await storescu.WaitForExitAsync(pushLimit.Token);
            }

            await reader;
            await stdout;
            if (!node.HasExited)
            {
                // storescu ended before 100 responses (refused, or another process on the port): fail below, don't hang.
                node.Kill(entireProcessTree: true);
            }

            node.WaitForExit();
            Assert.True(acknowledged.Count >= 100, output.ToString());
            Assert.True(acknowledged.Count < count, "the node was killed before the push ended");

            // Restart: everything acknowledged must end up in the store, exactly once.
            node = StartNodeProcess(dataDir, dicomPort);
            try
            {
                await WaitForPortAsync(dicomPort, TimeSpan.FromSeconds(90));
                var keys = new KeyedPseudonyms(await SiteSecret.LoadOrCreateAsync(Path.Combine(dataDir, "secrets", "site.key")));
                var expected = acknowledged.Select(f => keys.Uid(DicomFile.Read(File.ReadAllBytes(f)).Dataset.GetUid(DicomTag.SOPInstanceUID)!)).ToHashSet();
                await using var cluster = await AttachEmbeddedClusterAsync(dataDir);
                var cs = cluster.ConnectionString;
                await WaitForAsync(async () =>
                {
                    await using var db = DatabaseSchema.CreateNodeDb(cs);
                    var stored = await db.Instances.Select(i => i.SopInstanceKey).ToListAsync();
                    return expected.IsSubsetOf(stored) && Directory.GetFiles(Path.Combine(dataDir, "incoming"), "*.dcm").Length == 0;
                }, TimeSpan.FromSeconds(120), "every acknowledged instance in the store after the restart");

                // The rest can be re-sent; nothing is duplicated.
                var resend = await DcmtkTool.RunAsync("storescu", ["-aec", "GCT_NODE", "+sd", "127.0.0.1", dicomPort.ToString(), files], TimeSpan.FromMinutes(3));
                Assert.Equal(0, resend.ExitCode);
                await WaitForAsync(async () =>
                {
                    await using var db = DatabaseSchema.CreateNodeDb(cs);
                    return await db.Instances.CountAsync() == count && Directory.GetFiles(Path.Combine(dataDir, "incoming"), "*.dcm").Length == 0;
                }, TimeSpan.FromSeconds(180), $"{count} instances after the re-send");
                await using (var db = DatabaseSchema.CreateNodeDb(cs))
                {
                    Assert.Equal(count, await db.Instances.CountAsync());
                    Assert.Equal(count, (await db.Series.SingleAsync()).InstanceCount);
                }

                Assert.Empty(MarkerHits(Path.Combine(dataDir, "store")));
            }
            finally
            {
                node.Kill(entireProcessTree: true);
                node.WaitForExit();
            }
        }
        finally
        {
            if (File.Exists(Path.Combine(dir, "node", "postgres", "data", "postmaster.pid")))
            {
                // The killed and restarted node processes leave their database server running.
                await using var cluster = await AttachEmbeddedClusterAsync(Path.Combine(dir, "node"));
                await cluster.ShutdownServerAsync();
            }

            Directory.Delete(dir, recursive: true);
        }
    }

    private static Process StartNodeProcess(string dataDir, int dicomPort)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Gct.DllPath, "node", "--data-dir", dataDir, "--grpc-port", "0", "--dicom-port", dicomPort.ToString() })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["GCT_Node__Ingest__SeriesIdleSeconds"] = "1";
        psi.Environment["GCT_Node__Ingest__Hl7Port"] = "0";
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        await WaitForAsync(async () =>
        {
            try
            {
                using var c = new System.Net.Sockets.TcpClient();
                await c.ConnectAsync("127.0.0.1", port);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }, timeout, $"DICOM port {port}");
    }

    /// <summary>The embedded cluster of a node data directory, attached as the node's own tools reach it.</summary>
    private static Task<PostgresCluster> AttachEmbeddedClusterAsync(string dataDir) =>
        PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = Path.Combine(dataDir, "postgres") });
}
