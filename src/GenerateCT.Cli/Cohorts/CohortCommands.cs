using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GenerateCT.Hosting;
using GenerateCT.Generation.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Spectre.Console;

namespace GenerateCT.Cli.Cohorts;

/// <summary>
/// `gct cohort submit|list|download|cancel`: the researcher's client of a node's Generation service
/// (generation.proto) over TLS gRPC, with a bearer token from the hospital's identity provider.
/// </summary>
internal static class CohortCommands
{
    public static Command Create()
    {
        var cmd = new Command("cohort", "Ask a node for synthetic CT cohorts (researchers): submit, list, download, cancel.");
        cmd.Subcommands.Add(Submit());
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Download());
        cmd.Subcommands.Add(Cancel());
        return cmd;
    }

    private sealed record Connection(Option<string> Node, Option<FileInfo?> ServerCert, Option<FileInfo?> TokenFile)
    {
        public static Connection Add(Command cmd)
        {
            var c = new Connection(
                new Option<string>("--node") { Description = "The node's gRPC address, e.g. https://gct-node.hospital.local:8443.", Required = true },
                new Option<FileInfo?>("--server-cert") { Description = "Pin this node certificate (PEM or DER; a self-signed node writes DATA/tls/node.crt). Default: the system's trusted CAs." },
                new Option<FileInfo?>("--token-file") { Description = "File holding your access token (JWT) for the node; default: the GCT_TOKEN environment variable." });
            cmd.Options.Add(c.Node);
            cmd.Options.Add(c.ServerCert);
            cmd.Options.Add(c.TokenFile);
            return c;
        }

        public (Generation.V1.Generation.GenerationClient Client, CallOptions Call, GrpcChannel Channel) Open(ParseResult parse, CancellationToken ct)
        {
            var file = parse.GetValue(TokenFile);
            var token = (file is not null ? File.ReadAllText(file.FullName) : Environment.GetEnvironmentVariable("GCT_TOKEN"))?.Trim();
            if (string.IsNullOrEmpty(token))
            {
                throw new ArgumentException("no access token: pass --token-file FILE or set GCT_TOKEN (a token for the node's app with the Researcher role)");
            }

            var node = parse.GetValue(Node)!;
            if (!Uri.TryCreate(node, UriKind.Absolute, out var address) || address.Scheme != Uri.UriSchemeHttps)
            {
                throw new ArgumentException($"--node must be the node's https:// address (gRPC is TLS-only), not '{node}'");
            }

            var channel = parse.GetValue(ServerCert) is { } cert
                ? GrpcClientChannels.ForPinnedServer(address, X509CertificateLoader.LoadCertificateFromFile(cert.FullName))
                : GrpcChannel.ForAddress(address);
            var call = new CallOptions(headers: new Metadata { { "Authorization", "Bearer " + token } }, cancellationToken: ct);
            return (new Generation.V1.Generation.GenerationClient(channel), call, channel);
        }
    }

    private static Command Submit()
    {
        var cmd = new Command("submit", "Queue a cohort; with --out, wait for it (progress) and download every output.");
        var prompts = new Argument<string[]>("prompt") { Arity = ArgumentArity.OneOrMore, Description = "e.g. \"64 years old female: Cardiomegaly. Bilateral pleural effusion.\"" };
        var count = new Option<int>("--count") { Description = "Volumes per prompt.", DefaultValueFactory = _ => 1 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var format = new Option<string>("--format") { Description = "nifti, dicom, png (comma-separated).", DefaultValueFactory = _ => "nifti,dicom,png" };
        var condScale = new Option<double>("--cond-scale") { Description = "Guidance scale; 0 = the model's default.", DefaultValueFactory = _ => 0 };
        var output = new Option<DirectoryInfo?>("--out") { Description = "Wait for the job and download its outputs here." };
        cmd.Arguments.Add(prompts);
        foreach (var o in new Option[] { count, seed, format, condScale, output })
        {
            cmd.Options.Add(o);
        }

        var connection = Connection.Add(cmd);
        cmd.SetAction((parse, ct) => Reporting(async () =>
        {
            var (client, call, channel) = connection.Open(parse, ct);
            using var _ = channel;
            var request = new CohortRequest { Count = parse.GetValue(count), Seed = parse.GetValue(seed), CondScale = parse.GetValue(condScale) };
            request.Prompts.AddRange(parse.GetValue(prompts)!);
            request.Formats.AddRange(parse.GetValue(format)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseFormat));
            var accepted = await client.SubmitCohortAsync(request, call);
            Console.WriteLine($"job {accepted.JobId}: {accepted.Volumes} volume(s) queued");
            if (parse.GetValue(output) is not { } dir)
            {
                return 0;
            }

            var last = await WatchAsync(client, call, accepted.JobId);
            if (last.State != JobState.Succeeded)
            {
                var status = await client.GetJobAsync(new JobRef { JobId = accepted.JobId }, call);
                Console.Error.WriteLine($"error: job {accepted.JobId} ended {status.State}: {status.Error}");
                return 1;
            }

            await DownloadAllAsync(client, call, accepted.JobId, dir.FullName, ct);
            return 0;
        }));
        return cmd;
    }

    private static Command List()
    {
        var cmd = new Command("list", "Your jobs on the node, newest first, with their outputs.");
        var connection = Connection.Add(cmd);
        cmd.SetAction((parse, ct) => Reporting(async () =>
        {
            var (client, call, channel) = connection.Open(parse, ct);
            using var _ = channel;
            var jobs = await client.ListJobsAsync(new ListJobsRequest { Limit = 50 }, call);
            // One line per job (whole ids, tab-separated): easy to read and to script.
            Console.WriteLine("job\tstate\tcreated (UTC)\toutputs\terror");
            foreach (var j in jobs.Jobs)
            {
                Console.WriteLine($"{j.JobId}\t{j.State}\t{DateTimeOffset.FromUnixTimeMilliseconds(j.CreatedUnixMs).UtcDateTime:u}\t{j.Outputs.Count}\t{j.Error}");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command Download()
    {
        var cmd = new Command("download", "Download every output of a finished job (each file checked against the node's SHA-256).");
        var job = new Argument<string>("job");
        var output = new Option<DirectoryInfo>("--out") { Required = true };
        cmd.Arguments.Add(job);
        cmd.Options.Add(output);
        var connection = Connection.Add(cmd);
        cmd.SetAction((parse, ct) => Reporting(async () =>
        {
            var (client, call, channel) = connection.Open(parse, ct);
            using var _ = channel;
            await DownloadAllAsync(client, call, parse.GetValue(job)!, parse.GetValue(output)!.FullName, ct);
            return 0;
        }));
        return cmd;
    }

    private static Command Cancel()
    {
        var cmd = new Command("cancel", "Cancel a queued or running job.");
        var job = new Argument<string>("job");
        cmd.Arguments.Add(job);
        var connection = Connection.Add(cmd);
        cmd.SetAction((parse, ct) => Reporting(async () =>
        {
            var (client, call, channel) = connection.Open(parse, ct);
            using var _ = channel;
            var status = await client.CancelJobAsync(new JobRef { JobId = parse.GetValue(job)! }, call);
            Console.WriteLine($"job {status.JobId}: {status.State}");
            return 0;
        }));
        return cmd;
    }

    private static OutputFormat ParseFormat(string name) => name.ToLowerInvariant() switch
    {
        "nifti" => OutputFormat.Nifti,
        "dicom" => OutputFormat.Dicom,
        "png" => OutputFormat.Png,
        _ => throw new ArgumentException($"unknown format '{name}': use nifti, dicom or png"),
    };

    /// <summary>Follows WatchJob with one progress bar until the job ends; returns the last message.</summary>
    private static async Task<JobProgress> WatchAsync(Generation.V1.Generation.GenerationClient client, CallOptions call, string jobId)
    {
        JobProgress last = new() { JobId = jobId };
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask($"job {jobId}", maxValue: 1);
                using var stream = client.WatchJob(new JobRef { JobId = jobId }, call);
                await foreach (var p in stream.ResponseStream.ReadAllAsync(call.CancellationToken))
                {
                    last = p;
                    task.MaxValue = Math.Max(1, p.TotalSteps);
                    task.Value = p.Step;
                    task.Description = Markup.Escape($"{p.State} {p.Stage} {p.Step}/{p.TotalSteps} volume {p.VolumeIndex + 1}/{Math.Max(1, p.Volumes)}");
                }
            });
        Console.WriteLine($"job {jobId}: {last.State}");
        return last;
    }

    /// <summary>Writes each output to a temporary name, checks size and SHA-256 against the node's record, then renames.</summary>
    private static async Task DownloadAllAsync(Generation.V1.Generation.GenerationClient client, CallOptions call, string jobId, string directory, CancellationToken ct)
    {
        var status = await client.GetJobAsync(new JobRef { JobId = jobId }, call);
        if (status.State != JobState.Succeeded)
        {
            throw new InvalidOperationException($"job {jobId} is {status.State}; only a succeeded job has outputs{(status.Error.Length > 0 ? ": " + status.Error : "")}");
        }

        Directory.CreateDirectory(directory);
        var table = new Table().AddColumns("prompt", "volume", "format", "file", "bytes");
        foreach (var output in status.Outputs.OrderBy(o => o.Index).ThenBy(o => o.Format))
        {
            var name = Path.GetFileName(output.FileName);
            var path = Path.Combine(directory, name);
            var partial = path + ".partial";
            using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    using var stream = client.DownloadOutput(new DownloadRequest { JobId = jobId, OutputId = output.OutputId }, call);
                    await foreach (var chunk in stream.ResponseStream.ReadAllAsync(ct))
                    {
                        sha.AppendData(chunk.Data.Span);
                        await file.WriteAsync(chunk.Data.Memory, ct);
                    }

                    await file.FlushAsync(ct);
                }

                var digest = Convert.ToHexStringLower(sha.GetHashAndReset());
                var size = new FileInfo(partial).Length;
                if (size != output.SizeBytes || !string.Equals(digest, output.Sha256, StringComparison.OrdinalIgnoreCase))
                {
                    File.Delete(partial);
                    throw new InvalidDataException($"{name}: received {size} bytes with SHA-256 {digest}, the node recorded {output.SizeBytes} bytes and {output.Sha256}; nothing was kept");
                }
            }

            File.Move(partial, path, overwrite: true);
            table.AddRow(Markup.Escape(output.Prompt), output.Index.ToString(), output.Format.ToString(), Markup.Escape(path), output.SizeBytes.ToString());
        }

        AnsiConsole.Write(table);
        Console.WriteLine($"{status.Outputs.Count} file(s) in {directory}, SHA-256 checked (all marked synthetic)");
    }

    /// <summary>What the user can fix ends as a <see cref="CommandFailure"/> (one line, exit 2); the node's refusals name their status.</summary>
    private static async Task<int> Reporting(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (RpcException e) when (e.Status.DebugException is HttpRequestException { InnerException: System.Security.Authentication.AuthenticationException })
        {
            throw new CommandFailure("the node's TLS certificate was not accepted: it is not the one pinned with --server-cert, or not trusted by this machine's CAs", e);
        }
        catch (RpcException e) when (e.Status.DebugException is HttpRequestException h)
        {
            throw new CommandFailure($"cannot reach the node: {h.Message}", e);
        }
        catch (RpcException e)
        {
            throw new CommandFailure($"the node answered {e.StatusCode}: {e.Status.Detail}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or CryptographicException)
        {
            throw new CommandFailure(e.Message, e);
        }
    }
}
