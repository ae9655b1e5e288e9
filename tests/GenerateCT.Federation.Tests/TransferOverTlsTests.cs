using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Federation.Tests;

/// <summary>
/// Uploads and downloads through the codec over real gRPC on a loopback TLS socket, dropped in the
/// middle and resumed, against a minimal coordinator built only from the library's parts.
/// </summary>
public sealed class TransferOverTlsTests : IAsyncLifetime
{
    private const int SmallChunk = 1000;

    private readonly Scratch _dir = new("gct-transfer");
    private readonly WeightSet _base = TestWeights.Model(10);
    private WebApplication? _app;
    private GrpcChannel? _channel;
    private MinimalCoordinator? _coordinator;

    private Coordinator.CoordinatorClient Client => new(_channel!);

    public async Task InitializeAsync()
    {
        var baseFile = _dir.Combine("base.gctw");
        await WeightFile.WriteAsync(baseFile, _base);
        using var certificate = SelfSigned();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.UseHttps(X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null));
        }));
        builder.Services.AddGrpc();
        _coordinator = new MinimalCoordinator(_dir.Path, baseFile, _base.Layout);
        builder.Services.AddSingleton(_coordinator);
        _app = builder.Build();
        _app.MapGrpcService<MinimalCoordinator>();
        await _app.StartAsync();
        var port = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        var pinned = certificate.GetCertHash(HashAlgorithmName.SHA256);
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHash(HashAlgorithmName.SHA256).AsSpan().SequenceEqual(pinned) },
        };
        _channel = GrpcChannel.ForAddress($"https://localhost:{port}", new GrpcChannelOptions { HttpHandler = handler });
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task An_upload_dropped_in_the_middle_resumes_from_the_position_the_coordinator_acknowledged()
    {
        var update = TestWeights.Model(11).DeltaFrom(_base);
        var chunks = ChunkWriter.Chunks(update, SmallChunk).ToList();
        var header = new UpdateHeader { Round = 1, Stage = ModelStage.Maskgit, BaseModelVersion = 1, SampleCount = 40 };

        using (var cts = new CancellationTokenSource())
        {
            var dropped = Client.UploadUpdate(cancellationToken: cts.Token);
            await dropped.RequestStream.WriteAsync(new UpdateMessage { Header = header });
            foreach (var c in chunks.Take(7))
            {
                await dropped.RequestStream.WriteAsync(new UpdateMessage { Chunk = c });
            }

            await _coordinator!.Received(7).WaitAsync(TimeSpan.FromSeconds(30));
            cts.Cancel(); // the connection drops before the upload is complete
            await Assert.ThrowsAnyAsync<Exception>(() => dropped.ResponseAsync);
        }

        var position = await Client.GetUploadPositionAsync(new UploadPositionRequest { Round = 1, Stage = ModelStage.Maskgit });
        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 1750 }, position);

        using var resumed = Client.UploadUpdate();
        await resumed.RequestStream.WriteAsync(new UpdateMessage { Header = new UpdateHeader(header) { ResumeFrom = position } });
        foreach (var c in ChunkWriter.Chunks(update, SmallChunk, position))
        {
            await resumed.RequestStream.WriteAsync(new UpdateMessage { Chunk = c });
        }

        await resumed.RequestStream.CompleteAsync();
        var response = await resumed;

        Assert.True(response.Accepted, response.Reason);
        Assert.Equal(4, response.TensorsReceived);
        Assert.Equal(new TransferPosition { TensorIndex = 4 }, response.Acknowledged);
        Assert.Equal(update.ComputeVersionId(), (await WeightFile.ReadAsync(_coordinator.SpoolPath(1))).ComputeVersionId());
        Assert.Equal(chunks.Count, _coordinator.ChunksAdded); // no chunk crossed twice
    }

    [Fact]
    public async Task A_resume_from_another_position_than_the_acknowledged_one_is_refused()
    {
        var update = TestWeights.Model(12).DeltaFrom(_base);
        var header = new UpdateHeader { Round = 2, Stage = ModelStage.Maskgit, SampleCount = 1, ResumeFrom = new TransferPosition { TensorIndex = 1 } };

        using var call = Client.UploadUpdate();
        async Task UploadAsync()
        {
            await call.RequestStream.WriteAsync(new UpdateMessage { Header = header });
            foreach (var c in ChunkWriter.Chunks(update, SmallChunk, header.ResumeFrom))
            {
                await call.RequestStream.WriteAsync(new UpdateMessage { Chunk = c });
            }

            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }

        var e = await Assert.ThrowsAsync<RpcException>(UploadAsync); // the coordinator answers as soon as it reads the header
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("(0, 0)", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_download_dropped_in_the_middle_resumes_from_the_nodes_position()
    {
        var assembler = new ChunkAssembler();
        using (var cts = new CancellationTokenSource())
        {
            using var call = Client.DownloadModel(new DownloadModelRequest { ModelVersion = 1, Stage = ModelStage.Maskgit }, cancellationToken: cts.Token);
            for (int i = 0; i < 4 && await call.ResponseStream.MoveNext(cts.Token); i++)
            {
                assembler.Add(call.ResponseStream.Current);
            }

            cts.Cancel();
        }

        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 1000 }, assembler.Position);
        using var resumed = Client.DownloadModel(new DownloadModelRequest { ModelVersion = 1, Stage = ModelStage.Maskgit, ResumeFrom = assembler.Position });
        await foreach (var chunk in resumed.ResponseStream.ReadAllAsync())
        {
            assembler.Add(chunk);
        }

        Assert.Equal(_base.ComputeVersionId(), assembler.ToWeightSet().ComputeVersionId());
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
    }

    /// <summary>The coordinator's transfer duties and nothing else: one spool per round, one upload at a time per spool.</summary>
    private sealed class MinimalCoordinator(string directory, string baseFile, WeightLayout layout) : Coordinator.CoordinatorBase
    {
        private readonly SemaphoreSlim _spoolLock = new(1, 1);
        private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
        private int _chunksAdded;

        public int ChunksAdded => Volatile.Read(ref _chunksAdded);

        public string SpoolPath(long round) => Path.Combine(directory, $"round-{round}.gctw");

        public Task Received(int chunks)
        {
            lock (_waiters)
            {
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_chunksAdded >= chunks)
                {
                    tcs.SetResult();
                }
                else
                {
                    _waiters.Add((chunks, tcs));
                }

                return tcs.Task;
            }
        }

        public override async Task<UploadUpdateResponse> UploadUpdate(IAsyncStreamReader<UpdateMessage> requestStream, ServerCallContext context)
        {
            if (!await requestStream.MoveNext() || requestStream.Current.BodyCase != UpdateMessage.BodyOneofCase.Header)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "the first message must be the update header"));
            }

            var header = requestStream.Current.Header;
            await _spoolLock.WaitAsync();
            try
            {
                await using var spool = await UpdateSpool.OpenAsync(SpoolPath(header.Round), layout);
                var from = header.ResumeFrom ?? new TransferPosition();
                if (!from.Equals(spool.Acknowledged))
                {
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, $"resume from ({spool.Acknowledged.TensorIndex}, {spool.Acknowledged.Offset})"));
                }

                while (await requestStream.MoveNext())
                {
                    try
                    {
                        await spool.AddAsync(requestStream.Current.Chunk);
                    }
                    catch (FederationException e)
                    {
                        throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
                    }

                    Added();
                }

                await spool.CompleteAsync();
                return new UploadUpdateResponse { Accepted = true, TensorsReceived = layout.Count, Acknowledged = spool.Acknowledged };
            }
            finally
            {
                _spoolLock.Release();
            }
        }

        public override async Task<TransferPosition> GetUploadPosition(UploadPositionRequest request, ServerCallContext context)
        {
            await _spoolLock.WaitAsync();
            try
            {
                await using var spool = await UpdateSpool.OpenAsync(SpoolPath(request.Round), layout);
                return spool.Acknowledged;
            }
            finally
            {
                _spoolLock.Release();
            }
        }

        public override async Task DownloadModel(DownloadModelRequest request, IServerStreamWriter<TensorChunk> responseStream, ServerCallContext context)
        {
            await foreach (var chunk in ChunkWriter.ChunksAsync(baseFile, SmallChunk, request.ResumeFrom, context.CancellationToken))
            {
                await responseStream.WriteAsync(chunk);
            }
        }

        private void Added()
        {
            lock (_waiters)
            {
                _chunksAdded++;
                foreach (var w in _waiters.Where(w => _chunksAdded >= w.Count).ToList())
                {
                    w.Reached.SetResult();
                    _waiters.Remove(w);
                }
            }
        }
    }
}
