using GenerateCT.Data;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Coordinator.Tests;

/// <summary>
/// A federation for round tests: a CA, the coordinator's kit, node kits alpha and beta and operator
/// ops-anna's kit; a coordinator on real PostgreSQL that checks its rounds every 100 ms, restartable on
/// the same data directory and database; clients over mutual TLS with each kit.
/// </summary>
internal sealed class RoundHarness : IAsyncDisposable
{
    /// <summary>Chunks of 1000 bytes: the tiny tensors still cross in several chunks.</summary>
    public const int SmallChunk = 1000;

    private readonly List<IDisposable> _owned = [];

    private RoundHarness(Scratch scratch, FederationCa ca, string coordinatorKit, string connectionString)
    {
        Scratch = scratch;
        Ca = ca;
        CoordinatorKit = coordinatorKit;
        ConnectionString = connectionString;
    }

    public Scratch Scratch { get; }

    public FederationCa Ca { get; }

    public string CoordinatorKit { get; }

    public string ConnectionString { get; }

    public CoordinatorHost? Host { get; private set; }

    public string DataDirectory => Scratch.Combine("coordinator");

    public static async Task<RoundHarness> StartAsync(PostgresFixture postgres)
    {
        var scratch = new Scratch("gct-rounds");
        var ca = FederationCa.Initialize(scratch.Combine("ca"), "hospital-net");
        var coordinator = ca.Issue(SiteRole.Coordinator, "localhost");
        ca.Issue(SiteRole.Node, "alpha");
        ca.Issue(SiteRole.Node, "beta");
        ca.Issue(SiteRole.Operator, "ops-anna");
        var harness = new RoundHarness(scratch, ca, coordinator.Kit, await postgres.CreateDatabaseAsync());
        await harness.RestartAsync();
        return harness;
    }

    /// <summary>Stops the running coordinator (if any) and starts a new one on the same data directory and database.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();

        var settings = new Dictionary<string, string?>
        {
            ["Coordinator:DataDirectory"] = DataDirectory,
            ["Coordinator:GrpcPort"] = "0",
            ["Coordinator:GrpcAddress"] = "127.0.0.1",
            ["Coordinator:ConnectionString"] = ConnectionString,
            ["Coordinator:Pki:Kit"] = CoordinatorKit,
            ["Coordinator:RoundCheckMilliseconds"] = "100",
        };
        Host = await CoordinatorHost.StartAsync(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
    }

    /// <summary>Stops the coordinator.</summary>
    public async Task StopAsync()
    {
        if (Host is not null)
        {
            await Host.DisposeAsync();
            Host = null;
        }
    }

    public GenerateCT.Federation.V1.Coordinator.CoordinatorClient Node(string name) => new(Channel(name));

    public GenerateCT.Federation.Operator.V1.Operator.OperatorClient Ops(string name = "ops-anna") => new(Channel(name));

    /// <summary>Enrols the nodes (participants of rounds started afterwards).</summary>
    public async Task EnrolAsync(params string[] nodes)
    {
        foreach (var n in nodes)
        {
            await Node(n).EnrolAsync(new EnrolRequest { NodeSoftwareVersion = "test", Device = "cpu", TrainingSamples = 10 });
        }
    }

    public static async Task<ModelVersionInfo> RegisterAsync(GenerateCT.Federation.Operator.V1.Operator.OperatorClient client, WeightSet weights, ModelStage stage = ModelStage.Maskgit, string label = "base", long parent = 0)
    {
        using var call = client.RegisterModel();
        await call.RequestStream.WriteAsync(new RegisterModelMessage { Header = new RegisterModelHeader { Label = label, ParentVersion = parent } });
        await call.RequestStream.WriteAsync(new RegisterModelMessage { Stage = stage });
        foreach (var chunk in ChunkWriter.Chunks(weights, SmallChunk))
        {
            await call.RequestStream.WriteAsync(new RegisterModelMessage { Chunk = chunk });
        }

        await call.RequestStream.CompleteAsync();
        return await call;
    }

    public static async Task<UploadUpdateResponse> UploadAsync(GenerateCT.Federation.V1.Coordinator.CoordinatorClient client, long round, long baseVersion, WeightSet delta, long samples, ModelStage stage = ModelStage.Maskgit)
    {
        using var call = client.UploadUpdate();
        await call.RequestStream.WriteAsync(new UpdateMessage { Header = new UpdateHeader { Round = round, Stage = stage, BaseModelVersion = baseVersion, SampleCount = samples } });
        try
        {
            foreach (var chunk in ChunkWriter.Chunks(delta, SmallChunk))
            {
                await call.RequestStream.WriteAsync(new UpdateMessage { Chunk = chunk });
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // The coordinator answered (a refusal) before every chunk was written: its answer says why.
        }

        return await call;
    }

    public static async Task<WeightSet> DownloadAsync(GenerateCT.Federation.V1.Coordinator.CoordinatorClient client, long version, ModelStage stage = ModelStage.Maskgit)
    {
        var assembler = new ChunkAssembler();
        using var call = client.DownloadModel(new DownloadModelRequest { ModelVersion = version, Stage = stage });
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            assembler.Add(chunk);
        }

        return assembler.ToWeightSet();
    }

    /// <summary>Polls the operator status until round <paramref name="round"/> is in <paramref name="state"/>.</summary>
    public async Task<RoundStatus> WaitForAsync(long round, string state, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var client = Ops();
        while (true)
        {
            var status = (await client.GetStatusAsync(new GetStatusRequest())).Rounds.Single(r => r.Round == round);
            if (status.State == state)
            {
                return status;
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"round {round} is {status.State} ({status.FailureReason}), not {state}");
            }

            await Task.Delay(100);
        }
    }

    public GenerateCT.Data.Coordinator.CoordinatorDb Db() => DatabaseSchema.CreateCoordinatorDb(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _owned)
        {
            d.Dispose();
        }

        await StopAsync();
        Scratch.Dispose();
    }

    /// <summary>A mutual TLS channel with <paramref name="name"/>'s kit.</summary>
    public GrpcChannel Channel(string name)
    {
        var kit = StartupKit.Load(Path.Combine(Ca.Directory, "kits", name));
        var channel = kit.CreateCoordinatorChannel(Host!.GrpcAddress);
        _owned.Add(channel);
        _owned.Add(kit);
        return channel;
    }
}
