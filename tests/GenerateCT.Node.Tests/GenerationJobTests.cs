using GenerateCT.Testing;
using System.IO.Compression;
using System.Security.Cryptography;
using GenerateCT.Data.Audit;
using GenerateCT.Generation.V1;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Xunit.Abstractions;
using GenerationClient = GenerateCT.Generation.V1.Generation.GenerationClient;

namespace GenerateCT.Node.Tests;

[Collection(GenerationNodeCollection.Name)]
public class GenerationJobTests(GenerationNodeFixture fixture, ITestOutputHelper output)
{
    private const string Prompt = "64 years old female: Cardiomegaly.";

    private GenerationClient Client => new(fixture.Channel);

    private async Task<List<JobProgress>> WatchToEndAsync(string job, CallOptions options)
    {
        var seen = new List<JobProgress>();
        using var call = Client.WatchJob(new JobRef { JobId = job }, options);
        await foreach (var p in call.ResponseStream.ReadAllAsync())
        {
            seen.Add(p);
        }

        return seen;
    }

    private async Task<(byte[] Bytes, List<FileChunk> Chunks)> DownloadAsync(string job, string outputId, CallOptions options)
    {
        using var call = Client.DownloadOutput(new DownloadRequest { JobId = job, OutputId = outputId }, options);
        var chunks = new List<FileChunk>();
        await foreach (var c in call.ResponseStream.ReadAllAsync())
        {
            chunks.Add(c);
        }

        return (chunks.SelectMany(c => c.Data.ToByteArray()).ToArray(), chunks);
    }

    [Fact]
    public async Task A_cohort_is_watched_to_success_and_each_output_downloads_intact_and_marked_synthetic()
    {
        output.WriteLine($"tiny bundle trained in {fixture.TrainingSeconds:F1} s");
        var alice = fixture.Researcher("alice@hospital.example");
        // A job ahead in the queue, so that the watched one is still queued when watching starts and every stage is seen.
        var ahead = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 2, Seed = 10, Formats = { OutputFormat.Png } }, fixture.As(alice));
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var accepted = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 1, Seed = 11 }, fixture.As(alice));
        Assert.Equal(1, accepted.Volumes);
        Assert.NotEqual(ahead.JobId, accepted.JobId);

        var progress = await WatchToEndAsync(accepted.JobId, fixture.As(alice));
        output.WriteLine($"generated and written in {stopwatch.Elapsed.TotalSeconds:F1} s; {progress.Count} progress messages");
        Assert.Equal(JobState.Succeeded, progress[^1].State);
        Assert.Equal(JobState.Queued, progress[0].State);
        Assert.All(progress[..^1], p => Assert.True(p.State is JobState.Queued or JobState.Running, $"{p.State} before the end"));
        Assert.Contains(progress, p => p.Stage == "tokens" && p.Step == p.TotalSteps && p.TotalSteps > 0);
        Assert.Contains(progress, p => p.Stage == "superres" && p.Step == 9 && p.TotalSteps == 9);
        Assert.Contains(progress, p => p.Stage == "write" && p.Step == 3 && p.TotalSteps == 3);

        var job = await Client.GetJobAsync(new JobRef { JobId = accepted.JobId }, fixture.As(alice));
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.True(job.FinishedUnixMs >= job.CreatedUnixMs);
        Assert.Equal([OutputFormat.Nifti, OutputFormat.Dicom, OutputFormat.Png], job.Outputs.Select(o => o.Format).Order());
        Assert.All(job.Outputs, o => Assert.Equal((Prompt, 0), (o.Prompt, o.Index)));

        foreach (var file in job.Outputs)
        {
            var (bytes, chunks) = await DownloadAsync(accepted.JobId, file.OutputId, fixture.As(alice));
            Assert.Equal(file.SizeBytes, bytes.Length);
            Assert.Equal(file.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.All(chunks, c => Assert.True(c.Data.Length <= 64 * 1024));
            Assert.Equal(chunks.Select((c, i) => i == chunks.Count - 1), chunks.Select(c => c.Last));
            Assert.Equal(0, chunks[0].Offset);
            Assert.All(chunks, c => Assert.Equal(file.FileName, c.FileName));

            var path = Path.Combine(Path.GetTempPath(), $"gct-dl-{Guid.NewGuid():N}-{file.FileName}");
            await File.WriteAllBytesAsync(path, bytes);
            try
            {
                switch (file.Format)
                {
                    case OutputFormat.Nifti:
                        var nifti = await NiftiFile.ReadAsync(path);
                        Assert.Equal((9, 64, 64), (nifti.Volume.Depth, nifti.Volume.Height, nifti.Volume.Width));
                        Assert.True(nifti.Metadata.IsSynthetic);
                        Assert.All(nifti.Volume.Voxels, x => Assert.InRange(x, -1000f, 1000f));
                        break;
                    case OutputFormat.Dicom:
                        using (var zip = ZipFile.OpenRead(path))
                        {
                            var instances = zip.Entries.Where(e => e.Name.EndsWith(".dcm", StringComparison.Ordinal)).ToList();
                            Assert.Equal(9, instances.Count);
                            await using var first = instances[0].Open();
                            using var copy = new MemoryStream();
                            await first.CopyToAsync(copy);
                            var dataset = Dicom.DicomFile.Read(copy.ToArray()).Dataset;
                            Assert.True(Dicom.Imaging.CtSeriesWriter.IsSynthetic(dataset));
                        }

                        break;
                    default:
                        Assert.Equal(OutputFormat.Png, file.Format);
                        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
                        break;
                }
            }
            finally
            {
                File.Delete(path);
            }
        }

        Assert.Contains(accepted.JobId, (await Client.ListJobsAsync(new ListJobsRequest(), fixture.As(alice))).Jobs.Select(j => j.JobId));

        // The audit chain names the job on the submission and the output on each download, and still verifies.
        var trail = new AuditTrail(fixture.Node.DatabaseConnectionString);
        var rows = await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync();
        var submit = Assert.Single(rows, r => r.Action.EndsWith("/SubmitCohort", StringComparison.Ordinal) && r.Detail!.Contains(accepted.JobId, StringComparison.Ordinal));
        Assert.Equal(("alice@hospital.example", "success"), (submit.Actor, submit.Outcome));
        Assert.Contains(Prompt, submit.Detail, StringComparison.Ordinal);
        foreach (var file in job.Outputs)
        {
            Assert.Single(rows, r => r.Action.EndsWith("/DownloadOutput", StringComparison.Ordinal) && r.Detail!.Contains(file.OutputId, StringComparison.Ordinal) && r.Outcome == "success");
        }

        Assert.Contains(rows, r => r.Action == "generation:job" && r.Outcome == "success" && r.Detail!.Contains(accepted.JobId, StringComparison.Ordinal));
        var verification = await trail.VerifyAsync();
        Assert.True(verification.Intact, verification.Problem);
    }

    [Fact]
    public async Task The_same_request_gives_the_same_volumes_and_another_guidance_scale_other_ones()
    {
        var bob = fixture.Researcher("bob@hospital.example");
        var request = new CohortRequest { Prompts = { Prompt }, Count = 2, Seed = 99, Formats = { OutputFormat.Nifti } };
        var volumes = new List<float[][]>();
        for (var run = 0; run < 3; run++)
        {
            // runs 0 and 1: the bundle's guidance scale (cond_scale 0); run 2: cond_scale 1 (no guidance)
            var accepted = await Client.SubmitCohortAsync(run < 2 ? request : new CohortRequest(request) { CondScale = 1 }, fixture.As(bob));
            Assert.Equal(JobState.Succeeded, (await WatchToEndAsync(accepted.JobId, fixture.As(bob)))[^1].State);
            var job = await Client.GetJobAsync(new JobRef { JobId = accepted.JobId }, fixture.As(bob));
            var files = new List<float[]>();
            foreach (var o in job.Outputs.OrderBy(o => o.Index))
            {
                var path = Path.Combine(Path.GetTempPath(), $"gct-dl-{Guid.NewGuid():N}.nii.gz");
                await File.WriteAllBytesAsync(path, (await DownloadAsync(accepted.JobId, o.OutputId, fixture.As(bob))).Bytes);
                files.Add((await NiftiFile.ReadAsync(path)).Volume.Voxels.ToArray());
                File.Delete(path);
            }

            volumes.Add([.. files]);
        }

        Assert.Equal(2, volumes[0].Length);
        Assert.Equal(volumes[0][0], volumes[1][0]);
        Assert.Equal(volumes[0][1], volumes[1][1]);
        Assert.NotEqual(volumes[0][0], volumes[0][1]); // volume 2 has its own derived seed
        Assert.NotEqual(volumes[0][0], volumes[2][0]); // the requested cond_scale reaches the sampler
    }

    [Fact]
    public async Task Hospital_it_sees_the_configured_bundle_as_the_active_model_and_cannot_activate_another()
    {
        var admin = new GenerateCT.Admin.V1.NodeAdmin.NodeAdminClient(fixture.Channel);
        var asAdmin = fixture.As(fixture.Admin("it@hospital.example"));
        var model = Assert.Single((await admin.ListModelsAsync(new GenerateCT.Admin.V1.ListModelsRequest(), asAdmin)).Models);
        Assert.True(model.Active);
        Assert.Equal("tiny", model.Config);
        Assert.StartsWith("tiny-", model.Version, StringComparison.Ordinal);
        Assert.Matches("^[0-9a-f]{64}$", model.Sha256);
        Assert.StartsWith(model.Sha256[..12], model.Version["tiny-".Length..], StringComparison.Ordinal);
        Assert.Equal(model.Version, (await admin.GetStatusAsync(new GenerateCT.Admin.V1.StatusRequest(), asAdmin)).ActiveModel);
        Assert.Equal(model, await admin.ActivateModelAsync(new GenerateCT.Admin.V1.ActivateModelRequest { Name = model.Name }, asAdmin));
        var e = await Assert.ThrowsAsync<RpcException>(() => admin.ActivateModelAsync(new GenerateCT.Admin.V1.ActivateModelRequest { Name = "paper-bundle" }, asAdmin).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("restart", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_researcher_gets_a_cohort_with_gct_cohort_pinning_the_nodes_published_certificate()
    {
        var dir = GenerateCT.Testing.Scratch.NewDirectory("gct-cohort-cli");
        try
        {
            var token = Path.Combine(dir, "token");
            await File.WriteAllTextAsync(token, fixture.Issuer.IssueToken(fixture.Researcher("dana@hospital.example")));
            var crt = Path.Combine(Path.GetDirectoryName(fixture.OutputRoot)!, "tls", "node.crt");
            Assert.DoesNotContain("PRIVATE KEY", await File.ReadAllTextAsync(crt), StringComparison.Ordinal);
            string[] connection = ["--node", fixture.Node.GrpcAddress.ToString(), "--server-cert", crt, "--token-file", token];
            var outDir = Path.Combine(dir, "cohort");

            var submit = await GenerateCT.Testing.Gct.RunAsync(TimeSpan.FromMinutes(3), ["cohort", "submit", Prompt, "--count", "1", "--seed", "11", "--format", "nifti,png", "--out", outDir, .. connection]);
            Assert.True(submit.ExitCode == 0, submit.Output);
            Assert.Contains("SHA-256 checked", submit.Output, StringComparison.Ordinal);
            var nifti = Assert.Single(Directory.GetFiles(outDir, "*.nii.gz"));
            var volume = (await NiftiFile.ReadAsync(nifti)).Volume;
            Assert.Equal((9, 64, 64), (volume.Depth, volume.Height, volume.Width));
            Assert.Single(Directory.GetFiles(outDir, "*.png"));
            Assert.Empty(Directory.GetFiles(outDir, "*.partial"));
            var jobId = System.Text.RegularExpressions.Regex.Match(submit.Output, "job ([0-9a-f]{32})").Groups[1].Value;

            var list = await GenerateCT.Testing.Gct.RunAsync(TimeSpan.FromMinutes(1), ["cohort", "list", .. connection]);
            Assert.True(list.ExitCode == 0, list.Output);
            Assert.Contains(jobId, list.Output, StringComparison.Ordinal);

            var noToken = await GenerateCT.Testing.Gct.RunAsync(TimeSpan.FromMinutes(1), "cohort", "list", "--node", fixture.Node.GrpcAddress.ToString(), "--server-cert", crt);
            Assert.Equal(2, noToken.ExitCode);
            Assert.Contains("no access token", noToken.Output, StringComparison.Ordinal);

            // Pinning another certificate (the identity provider's CA) refuses the node: no silent trust.
            var wrongPin = await GenerateCT.Testing.Gct.RunAsync(TimeSpan.FromMinutes(1), "cohort", "list", "--node", fixture.Node.GrpcAddress.ToString(), "--server-cert", fixture.Issuer.CaCertificatePath, "--token-file", token);
            Assert.Equal(2, wrongPin.ExitCode);
            Assert.Contains("TLS certificate was not accepted", wrongPin.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static TheoryData<string, string> UnusablePrompts { get; } = new()
    {
        { "64 years old \uFFFD female", "U+FFFD" },
        // About 1,700 characters (under the node's character limit) but well over the text encoder's 256 tokens.
        { "64 years old female: " + string.Concat(Enumerable.Repeat("Bilateral pleural effusion. ", 60)), "too long" },
    };

    [Theory]
    [MemberData(nameof(UnusablePrompts))]
    public async Task A_prompt_the_model_cannot_take_is_invalid_argument_naming_the_problem(string prompt, string reason)
    {
        var carol = fixture.Researcher("carol@hospital.example");
        var e = await Assert.ThrowsAsync<RpcException>(() => Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt, prompt }, Count = 1 }, fixture.As(carol)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(reason, e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("prompt 2", e.Status.Detail, StringComparison.Ordinal);
        Assert.Empty((await Client.ListJobsAsync(new ListJobsRequest(), fixture.As(carol))).Jobs);
    }

    [Fact]
    public async Task A_cohort_larger_than_the_node_allows_is_invalid_argument()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Client.SubmitCohortAsync(
            new CohortRequest { Prompts = { Prompt, Prompt }, Count = 2 }, fixture.As(fixture.Researcher("dan@hospital.example"))).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains($"at most {GenerationNodeFixture.MaxVolumesPerJob}", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Another_researchers_job_and_outputs_are_not_found()
    {
        var erin = fixture.Researcher("erin@hospital.example");
        var frank = fixture.Researcher("frank@hospital.example");
        var accepted = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 1, Seed = 3, Formats = { OutputFormat.Png } }, fixture.As(erin));
        await WatchToEndAsync(accepted.JobId, fixture.As(erin));
        var outputId = (await Client.GetJobAsync(new JobRef { JobId = accepted.JobId }, fixture.As(erin))).Outputs.Single().OutputId;

        var job = new JobRef { JobId = accepted.JobId };
        var refusals = new Func<Task>[]
        {
            () => Client.GetJobAsync(job, fixture.As(frank)).ResponseAsync,
            () => Client.CancelJobAsync(job, fixture.As(frank)).ResponseAsync,
            () => WatchToEndAsync(accepted.JobId, fixture.As(frank)),
            () => DownloadAsync(accepted.JobId, outputId, fixture.As(frank)),
        };
        foreach (var call in refusals)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }

        Assert.DoesNotContain(accepted.JobId, (await Client.ListJobsAsync(new ListJobsRequest(), fixture.As(frank))).Jobs.Select(j => j.JobId));
        // The owner still has it, and a made-up output id of theirs is NotFound too.
        Assert.True((await DownloadAsync(accepted.JobId, outputId, fixture.As(erin))).Chunks[^1].Last);
        var missing = await Assert.ThrowsAsync<RpcException>(() => DownloadAsync(accepted.JobId, Guid.NewGuid().ToString("N"), fixture.As(erin)));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task An_output_changed_on_disk_is_refused_as_data_loss_without_a_last_chunk()
    {
        var ivan = fixture.Researcher("ivan@hospital.example");
        var accepted = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 1, Seed = 31, Formats = { OutputFormat.Nifti } }, fixture.As(ivan));
        Assert.Equal(JobState.Succeeded, (await WatchToEndAsync(accepted.JobId, fixture.As(ivan)))[^1].State);
        var file = (await Client.GetJobAsync(new JobRef { JobId = accepted.JobId }, fixture.As(ivan))).Outputs.Single();
        var path = Path.Combine(fixture.OutputRoot, accepted.JobId, file.FileName);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^5] ^= 0xFF; // same size, other content
        await File.WriteAllBytesAsync(path, bytes);

        var chunks = new List<FileChunk>();
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = Client.DownloadOutput(new DownloadRequest { JobId = accepted.JobId, OutputId = file.OutputId }, fixture.As(ivan));
            await foreach (var c in call.ResponseStream.ReadAllAsync())
            {
                chunks.Add(c);
            }
        });
        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.Contains("SHA-256", e.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(chunks, c => c.Last);
    }

    [Fact]
    public async Task Cancelling_a_running_job_ends_it_cancelled_with_no_output_rows_or_files()
    {
        var gina = fixture.Researcher("gina@hospital.example");
        // A tiny job can finish before the watch catches it running, or before the cancel arrives (the
        // machine decides, not the test): then submit another; one cancelled mid-run within a few tries is required.
        CohortAccepted accepted = null!;
        JobRef job = null!;
        JobStatus cancelled = null!;
        for (var attempt = 0; attempt < 5 && cancelled?.State != JobState.Cancelled; attempt++)
        {
            accepted = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 3, Seed = 5 + attempt }, fixture.As(gina));
            job = new JobRef { JobId = accepted.JobId };
            var running = false;
            using (var watch = Client.WatchJob(job, fixture.As(gina)))
            {
                await foreach (var p in watch.ResponseStream.ReadAllAsync())
                {
                    if (p.State == JobState.Running && p.Stage is "text" or "tokens" or "decode" or "superres")
                    {
                        running = true; // still generating: no output written yet
                        break;
                    }

                    if (JobProgressIsTerminal(p))
                    {
                        break;
                    }
                }
            }

            cancelled = running ? await Client.CancelJobAsync(job, fixture.As(gina)) : await Client.GetJobAsync(job, fixture.As(gina));
            output.WriteLine($"attempt {attempt}: caught running {running}, ended {cancelled.State}");
        }

        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.Empty(cancelled.Outputs);
        Assert.Contains("cancelled", cancelled.Error, StringComparison.Ordinal);

        var again = await Client.GetJobAsync(job, fixture.As(gina));
        Assert.Equal(JobState.Cancelled, again.State);
        Assert.Empty(again.Outputs);
        Assert.False(Directory.Exists(Path.Combine(fixture.OutputRoot, accepted.JobId)), "the cancelled job's output directory is still there");
        // Watching an ended job answers its end at once.
        var end = Assert.Single(await WatchToEndAsync(accepted.JobId, fixture.As(gina)));
        Assert.Equal(JobState.Cancelled, end.State);
    }

    [Fact]
    public async Task Cancelling_a_queued_job_ends_it_before_it_starts_and_the_queue_goes_on()
    {
        var hana = fixture.Researcher("hana@hospital.example");
        var running = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 2, Seed = 21, Formats = { OutputFormat.Png } }, fixture.As(hana));
        var queued = await Client.SubmitCohortAsync(new CohortRequest { Prompts = { Prompt }, Count = 1, Seed = 22, Formats = { OutputFormat.Png } }, fixture.As(hana));

        var cancelled = await Client.CancelJobAsync(new JobRef { JobId = queued.JobId }, fixture.As(hana));
        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.Contains("before it started", cancelled.Error, StringComparison.Ordinal);
        Assert.Equal(JobState.Succeeded, (await WatchToEndAsync(running.JobId, fixture.As(hana)))[^1].State);
        Assert.Equal(JobState.Cancelled, (await Client.GetJobAsync(new JobRef { JobId = queued.JobId }, fixture.As(hana))).State);
        Assert.False(Directory.Exists(Path.Combine(fixture.OutputRoot, queued.JobId)));
    }

    [Fact]
    public async Task A_job_a_crash_left_running_is_failed_at_start_and_its_partial_files_removed()
    {
        await using var db = Data.DatabaseSchema.CreateNodeDb(fixture.Node.DatabaseConnectionString);
        var job = await db.GenerationJobs.FindAsync(fixture.InterruptedJob);
        Assert.NotNull(job);
        Assert.Equal("failed", job.State);
        Assert.Contains("node restarted", job.Error, StringComparison.Ordinal);
        Assert.NotNull(job.FinishedAt);
        Assert.False(File.Exists(fixture.InterruptedPartialFile));
        Assert.False(Directory.Exists(Path.Combine(fixture.OutputRoot, fixture.InterruptedJob.ToString("N"))));
    }

    private static bool JobProgressIsTerminal(JobProgress p) => p.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}

[Collection(SecuredNodeCollection.Name)]
public class GenerationWithoutBundleTests(SecuredNodeFixture node)
{
    [Fact]
    public async Task A_node_without_a_bundle_answers_failed_precondition_saying_how_to_install_one()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => new GenerationClient(node.Channel)
            .SubmitCohortAsync(new CohortRequest { Prompts = { "64 years old female: Cardiomegaly." }, Count = 1 }, SecuredNodeFixture.Bearer(node.Token(Security.NodeRoles.Researcher))).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("Node:Generation:Bundle", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("gct model import-released", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("gct train all", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_without_a_bundle_lists_no_models_and_refuses_to_activate_one()
    {
        var admin = new GenerateCT.Admin.V1.NodeAdmin.NodeAdminClient(node.Channel);
        var asAdmin = SecuredNodeFixture.Bearer(node.Token(Security.NodeRoles.Admin));
        Assert.Empty((await admin.ListModelsAsync(new GenerateCT.Admin.V1.ListModelsRequest(), asAdmin)).Models);
        var e = await Assert.ThrowsAsync<RpcException>(() => admin.ActivateModelAsync(new GenerateCT.Admin.V1.ActivateModelRequest { Name = "bundle" }, asAdmin).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("Node:Generation:Bundle", e.Status.Detail, StringComparison.Ordinal);
    }
}

public class GenerationOptionsTests
{
    [Fact]
    public void A_bundle_directory_without_a_manifest_is_a_configuration_error_naming_the_key()
    {
        var options = new NodeOptions { DataDirectory = Path.GetTempPath(), Generation = { Bundle = Path.Combine(Path.GetTempPath(), "no-such-bundle-" + Guid.NewGuid().ToString("N")) } };
        var e = Assert.Throws<Hosting.ConfigurationException>(options.Validate);
        Assert.Equal("Node:Generation:Bundle", e.Key);
        Assert.Contains("gct train all", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Device", "gpu")]
    [InlineData("MaxVolumesPerJob", "0")]
    public void Unusable_generation_settings_are_configuration_errors(string key, string value)
    {
        var options = new NodeOptions { DataDirectory = Path.GetTempPath() };
        if (key == "Device")
        {
            options.Generation.Device = value;
        }
        else
        {
            options.Generation.MaxVolumesPerJob = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        }

        Assert.Equal("Node:Generation:" + key, Assert.Throws<Hosting.ConfigurationException>(options.Validate).Key);
    }

    [Fact]
    public void Outputs_default_to_generated_under_the_data_directory()
    {
        var data = Path.Combine(Path.GetTempPath(), "node-data");
        Assert.Equal(Path.Combine(data, "generated"), new NodeOptions().Generation.OutputRoot(data));
    }
}
