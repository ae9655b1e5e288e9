using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Cli.Benchmarks;

/// <summary>
/// `gct bench upload`: a weight update streamed over loopback gRPC + TLS through the chunk codec
/// (<see cref="ChunkWriter"/> → <c>UploadUpdate</c> → <see cref="UpdateSpool"/>: per-tensor SHA-256,
/// sequence checks, spool file, fsync, atomic publish) against a plain gRPC byte stream of the same
/// bytes in the same message sizes to a receiver that only writes them to a file and fsyncs it, on
/// the same server, channel and TLS, in the same run. Issue goal: ours ≥ 0.7× the plain stream's throughput.
/// </summary>
internal static class UploadBenchmark
{
    internal const double RatioGoal = 0.7;

    public static Command Create()
    {
        var megabytes = new Option<int>("--megabytes") { Description = "Size of the update (MiB; 324 ≈ 85 M float32 parameters).", DefaultValueFactory = _ => 324 };
        var chunkBytes = new Option<int>("--chunk-bytes") { Description = "Largest chunk of tensor data per message.", DefaultValueFactory = _ => ChunkWriter.DefaultMaxChunkBytes };
        var repeat = new Option<int>("--repeat") { Description = "Timed uploads of each kind (after one warm-up each); the best is compared.", DefaultValueFactory = _ => 3 };
        var output = new Option<FileInfo?>("--out") { Description = "Also write the JSON report to this file." };
        var work = new Option<DirectoryInfo?>("--work-dir") { Description = "Where the receiver writes (default: a temp folder, deleted afterwards)." };
        var cmd = new Command("upload", "Update upload over loopback gRPC+TLS: chunk codec + spool vs a plain byte stream.") { megabytes, chunkBytes, repeat, output, work };
        cmd.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            if (parse.GetValue(megabytes) < 1 || parse.GetValue(repeat) < 1)
            {
                throw new ArgumentException("--megabytes and --repeat must be at least 1");
            }

            var dir = parse.GetValue(work)?.FullName ?? Path.Combine(Path.GetTempPath(), $"gct-bench-upload-{Guid.NewGuid():N}");
            try
            {
                var report = await RunAsync(parse.GetValue(megabytes) * 1024L * 1024, parse.GetValue(chunkBytes), parse.GetValue(repeat), dir, ct);
                var json = report.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
                Console.WriteLine(json);
                if (parse.GetValue(output) is { } file)
                {
                    await File.WriteAllTextAsync(file.FullName, json, ct);
                }

                return 0;
            }
            finally
            {
                if (parse.GetValue(work) is null && Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }));
        return cmd;
    }

    internal static async Task<JsonObject> RunAsync(long bytes, int chunkBytes, int repeat, string dir, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        var update = new WeightSet(AggregateBenchmark.Synthetic(UpdateLayout(bytes / sizeof(float)), seed: 1));
        var coordinator = new BenchCoordinator(dir, update.Layout);
        var plain = new PlainByteStream(dir);

        using var certificate = SelfSignedLocalhost();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.UseHttps(certificate);
        }));
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = Math.Max(4 * 1024 * 1024, chunkBytes + (64 * 1024)));
        builder.Services.AddSingleton(coordinator);
        builder.Services.AddSingleton(plain);
        await using var app = builder.Build();
        app.MapGrpcService<BenchCoordinator>();
        app.MapGrpcService<PlainByteStream>();
        await app.StartAsync(ct);
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        var pinned = certificate.GetCertHash(HashAlgorithmName.SHA256);
        using var channel = GrpcChannel.ForAddress($"https://localhost:{port}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHash(HashAlgorithmName.SHA256).AsSpan().SequenceEqual(pinned) },
            },
        });
        var client = new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel);
        var invoker = channel.CreateCallInvoker();

        int round = 0;
        async Task<double> Ours()
        {
            var watch = Stopwatch.StartNew();
            using var call = client.UploadUpdate(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new UpdateMessage { Header = new UpdateHeader { Round = ++round, Stage = ModelStage.Maskgit, SampleCount = 1 } }, ct);
            foreach (var chunk in ChunkWriter.Chunks(update, chunkBytes))
            {
                await call.RequestStream.WriteAsync(new UpdateMessage { Chunk = chunk }, ct);
            }

            await call.RequestStream.CompleteAsync();
            var response = await call;
            watch.Stop();
            if (!response.Accepted)
            {
                throw new InvalidOperationException($"the benchmark coordinator refused the update: {response.Reason}");
            }

            File.Delete(coordinator.PathOf(round));
            return watch.Elapsed.TotalSeconds;
        }

        async Task<double> Plain()
        {
            var watch = Stopwatch.StartNew();
            using var call = invoker.AsyncClientStreamingCall(PlainByteStream.UploadMethod, null, new CallOptions(cancellationToken: ct));
            foreach (var message in PlainMessages(update, chunkBytes))
            {
                await call.RequestStream.WriteAsync(message, ct);
            }

            await call.RequestStream.CompleteAsync();
            var received = await call;
            watch.Stop();
            if (BitConverter.ToInt64(received) != update.ByteCount)
            {
                throw new InvalidOperationException($"the plain receiver got {BitConverter.ToInt64(received)} bytes of {update.ByteCount}");
            }

            return watch.Elapsed.TotalSeconds;
        }

        await Ours(); // warm-up: JIT, TLS session, HTTP/2 windows
        await Plain();
        var ours = new List<double>();
        var plainTimes = new List<double>();
        for (int i = 0; i < repeat; i++)
        {
            ours.Add(await Ours());
            plainTimes.Add(await Plain());
        }

        await app.StopAsync(ct);
        double oursBest = ours.Min(), plainBest = plainTimes.Min();
        double ratio = plainBest / oursBest;
        return new JsonObject
        {
            ["benchmark"] = "upload",
            ["bytes"] = update.ByteCount,
            ["tensors"] = update.Count,
            ["chunk_bytes"] = chunkBytes,
            ["messages"] = update.Sum(t => Math.Max(1, (t.Data.Length + (chunkBytes / sizeof(float)) - 1) / (chunkBytes / sizeof(float)))),
            ["repeat"] = repeat,
            ["ours"] = Result(ours, update.ByteCount),
            ["plain_grpc_byte_stream"] = Result(plainTimes, update.ByteCount),
            ["ratio_ours_over_plain_throughput"] = Math.Round(ratio, 3),
            ["goal_ratio"] = RatioGoal,
            ["within_goal"] = ratio >= RatioGoal,
            ["transport"] = "HTTP/2 + TLS (Kestrel, self-signed, loopback), one channel for both",
            ["note"] = "ours: ChunkWriter chunks (per-tensor SHA-256 on the sender) in UpdateMessage → UpdateSpool (sequence checks, SHA-256 again, spool file, fsync every 64 MiB, fsync + rename at the end); plain: the same bytes in the same message sizes as raw byte[] messages, written to a file and fsynced once at the end. Best of the timed runs compared.",
            ["cpu_count"] = Environment.ProcessorCount,
            ["timestamp_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
    }

    /// <summary>The update's bytes cut as the chunk writer cuts them, each message a fresh array (as a sender reading tensors makes).</summary>
    private static IEnumerable<byte[]> PlainMessages(WeightSet update, int chunkBytes)
    {
        int step = chunkBytes / sizeof(float) * sizeof(float);
        foreach (var tensor in update)
        {
            int length = tensor.Data.Length * sizeof(float);
            if (length == 0)
            {
                yield return [];
            }

            for (int at = 0; at < length; at += step)
            {
                var message = GC.AllocateUninitializedArray<byte>(Math.Min(step, length - at));
                Buffer.BlockCopy(tensor.Data, at, message, 0, message.Length);
                yield return message;
            }
        }
    }

    /// <summary>A transformer-like layout of about <paramref name="parameters"/> float32 values: [1024, 2048] weights, each followed by a [1024] bias.</summary>
    private static WeightLayout UpdateLayout(long parameters)
    {
        var tensors = new List<(string, IReadOnlyList<long>)>();
        for (int layer = 0; parameters > 0; layer++)
        {
            long rows = Math.Min(1024, Math.Max(1, parameters / 2048));
            tensors.Add(($"layers.{layer}.weight", [rows, 2048]));
            tensors.Add(($"layers.{layer}.bias", [1024]));
            parameters -= (rows * 2048) + 1024;
        }

        return new WeightLayout(tensors);
    }

    private static JsonObject Result(List<double> seconds, long bytes)
    {
        double best = seconds.Min();
        var sorted = seconds.Order().ToList();
        return new JsonObject
        {
            ["seconds_best"] = Math.Round(best, 3),
            ["seconds_median"] = Math.Round(sorted[sorted.Count / 2], 3),
            ["mib_per_s_best"] = Math.Round(bytes / best / (1024 * 1024), 1),
        };
    }

    private static X509Certificate2 SelfSignedLocalhost()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    /// <summary>The coordinator's upload path and nothing else: every upload spooled, checked and published.</summary>
    private sealed class BenchCoordinator(string directory, WeightLayout layout) : GenerateCT.Federation.V1.Coordinator.CoordinatorBase
    {
        public string PathOf(long round) => Path.Combine(directory, $"update-{round}{WeightFile.Extension}");

        public override async Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UpdateMessage> requestStream, ServerCallContext context)
        {
            var ct = context.CancellationToken;
            if (!await requestStream.MoveNext(ct) || requestStream.Current.BodyCase != UpdateMessage.BodyOneofCase.Header)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "the first message must be the update header"));
            }

            await using var spool = await UpdateSpool.OpenAsync(PathOf(requestStream.Current.Header.Round), layout, cancellationToken: ct);
            while (await requestStream.MoveNext(ct))
            {
                await spool.AddAsync(requestStream.Current.Chunk, ct);
            }

            await spool.CompleteAsync(ct);
            return new UploadUpdateResponse { Accepted = true, TensorsReceived = layout.Count, Acknowledged = spool.Acknowledged };
        }
    }

    /// <summary>The peer: a client stream of raw byte messages (no protobuf, no checks), written to a file and fsynced at the end.</summary>
    /// <remarks>Bound as generated services are: grpc-dotnet binds a virtual method declared on the type named in the attribute.</remarks>
    [BindServiceMethod(typeof(PlainByteStream), nameof(BindService))]
    private class PlainByteStream(string directory)
    {
        private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

        public static readonly Method<byte[], byte[]> UploadMethod = new(MethodType.ClientStreaming, "gct.bench.PlainByteStream", nameof(Upload), Bytes, Bytes);

        public static void BindService(ServiceBinderBase binder, PlainByteStream? service) =>
            binder.AddMethod(UploadMethod, service is null ? null : (ClientStreamingServerMethod<byte[], byte[]>)service.Upload);

        public virtual async Task<byte[]> Upload(IAsyncStreamReader<byte[]> requestStream, ServerCallContext context)
        {
            var path = Path.Combine(directory, $"plain-{Guid.NewGuid():N}.bin");
            long total = 0;
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                while (await requestStream.MoveNext(context.CancellationToken))
                {
                    await file.WriteAsync(requestStream.Current, context.CancellationToken);
                    total += requestStream.Current.Length;
                }

                file.Flush(flushToDisk: true);
            }

            File.Delete(path);
            return BitConverter.GetBytes(total);
        }
    }
}
