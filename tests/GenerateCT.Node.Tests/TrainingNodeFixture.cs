using System.Diagnostics;
using GenerateCT.Data;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;
using GenerateCT.Model.Pipeline;
using GenerateCT.Testing;
using GenerateCT.Testing.Dicom;
using GenerateCT.Testing.Oidc;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;

namespace GenerateCT.Node.Tests;

/// <summary>
/// A node with a training set: a tiny bundle trained here in seconds is its base model; phantom patients
/// (identifiers planted) are pushed as a PACS and a RIS would: the CT series by dcmtk's storescu over
/// DICOM, the reports as HL7 ORU^R01 over MLLP. One patient's report never arrives.
/// </summary>
public sealed class TrainingNodeFixture() : NodeFixture("gct-node-train")
{
    /// <summary>The pushed patients' findings; the last one has no report.</summary>
    public static readonly FindingKind[][] Patients =
    [
        [FindingKind.Cardiomegaly],
        [FindingKind.PleuralEffusion],
        [],
        [FindingKind.Cardiomegaly, FindingKind.Emphysema],
        [FindingKind.Cardiomegaly],
    ];

    public string Bundle => System.IO.Path.Combine(Directory, "bundle");

    /// <summary>The phantoms pushed, in order (their reports carry the planted identifiers).</summary>
    public List<PhantomCase> Pushed { get; } = [];

    protected override async Task PrepareAsync()
    {
        await TinyBundle.TrainAsync(Bundle, cases: 4, size: 32, steps: 2, seed: 5, firstSeed: 50);
    }

    protected override Dictionary<string, string?> Configuration() => NodeConfiguration(Bundle);

    /// <summary>The keys of a training node on <paramref name="bundle"/> (also for nodes a test starts itself).</summary>
    public static Dictionary<string, string?> NodeConfiguration(string bundle) => new()
    {
        ["Node:Generation:Bundle"] = bundle,
        ["Node:Generation:Device"] = "cpu",
        ["Node:Ingest:SeriesIdleSeconds"] = "1",
    };

    protected override Task StartedAsync() => PushAsync(Node, Pushed, Patients, seed: 100);

    /// <summary>A node of this fixture's issuer and bundle on <paramref name="dataDirectory"/>.</summary>
    public Task<NodeHost> StartNodeAsync(string dataDirectory)
    {
        var extra = TestNodeConfiguration.Trusting(Issuer, ClientId);
        foreach (var (key, value) in NodeConfiguration(Bundle))
        {
            extra[key] = value;
        }

        return NodeHost.StartAsync(TestNodeConfiguration.Create(dataDirectory, extra));
    }

    /// <summary>
    /// Pushes one phantom patient per entry of <paramref name="patients"/> (seeds from <paramref name="seed"/>):
    /// its series with storescu, its report over MLLP (all but the last), then waits until the node has
    /// assembled every series and stored every report.
    /// </summary>
    public static async Task PushAsync(NodeHost node, List<PhantomCase> pushed, FindingKind[][] patients, int seed)
    {
        var dir = Scratch.NewDirectory("gct-train-push");
        try
        {
            for (var i = 0; i < patients.Length; i++)
            {
                var phantom = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = seed + i, Slices = 9, Size = 32, FindingKinds = patients[i], PlantPhi = true });
                pushed.Add(phantom);
                var phi = phantom.Phi!;
                var (given, family) = phi.PatientName.Split(' ', 2) is [var g, var f] ? (g, f) : (phi.PatientName, "");
                await CtSeriesWriter.WriteAsync(phantom.Volume, System.IO.Path.Combine(dir, $"p{i}"), new CtSeriesOptions
                {
                    PatientName = $"{family}^{given}",
                    PatientId = phi.MedicalRecordNumber,
                    PatientAge = $"{phantom.Age:D3}Y",
                    PatientSex = phantom.Sex == PatientSex.Male ? "M" : "F",
                    PatientBirthDate = phi.BirthDate,
                    AccessionNumber = phi.AccessionNumber,
                    StudyDateTime = phi.StudyDate.ToDateTime(new TimeOnly(9, 0)),
                    StudyDescription = "CT CHEST",
                });
            }

            var push = await DcmtkTool.RunAsync("storescu", ["-aec", node.Options.AeTitle, "+sd", "+r", "127.0.0.1", node.DicomPort.ToString(), dir], TimeSpan.FromMinutes(2));
            Assert.True(push.ExitCode == 0, push.Output);
            foreach (var phantom in pushed.Take(patients.Length - 1))
            {
                var ack = await MllpClient.SendAsync("127.0.0.1", node.Hl7Port!.Value, Oru(phantom));
                Assert.Contains("MSA|AA", ack);
            }

            var clock = Stopwatch.StartNew();
            while (true)
            {
                await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
                if (await db.TrainingSamples.CountAsync() >= patients.Length && await db.Reports.CountAsync() >= patients.Length - 1)
                {
                    break;
                }

                if (clock.Elapsed > TimeSpan.FromSeconds(90))
                {
                    throw new TimeoutException($"the node assembled {await db.TrainingSamples.CountAsync()} of {patients.Length} series and stored {await db.Reports.CountAsync()} reports in 90 s");
                }

                await Task.Delay(200);
            }
        }
        finally
        {
            System.IO.Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>An ORU^R01 as a RIS sends it, identifiers included (the node scrubs them).</summary>
    private static string Oru(PhantomCase phantom)
    {
        var phi = phantom.Phi!;
        var (given, family) = phi.PatientName.Split(' ', 2) is [var g, var f] ? (g, f) : (phi.PatientName, "");
        var text = Hl7Escaping.Escape(phantom.Report.Text, Hl7Delimiters.Default).Replace("\n", "\\.br\\", StringComparison.Ordinal);
        return
            $"MSH|^~\\&|RIS|HOSPITAL|GCT|NODE|{DateTime.UtcNow:yyyyMMddHHmmss}||ORU^R01^ORU_R01|T{phantom.Seed}|P|2.5.1\r" +
            $"PID|1||{phi.MedicalRecordNumber}^^^HOSPITAL^MR||{family}^{given}||{phi.BirthDate:yyyyMMdd}|{(phantom.Sex == PatientSex.Male ? "M" : "F")}\r" +
            $"OBR|1||{phi.AccessionNumber}|71250^CT CHEST^CPT|||{phi.StudyDate:yyyyMMdd}0900\r" +
            $"OBX|1|TX|71250&GDT^Report^L||{text}||||||F\r";
    }

    public TokenRequest As(string role, string user) => Request(role) with { User = user };

    public CallOptions Call(TokenRequest who, int seconds = 60) =>
        new(headers: new Metadata { { "Authorization", "Bearer " + Issuer.IssueToken(who) } }, deadline: DateTime.UtcNow.AddSeconds(seconds));
}

/// <summary>
/// Runs alone: its nodes bind ephemeral ports while they start and restart, which must not race the tests
/// that pick a free port first and bind it later (IngestEndToEndTests' kill -9 node).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TrainingNodeCollection : ICollectionFixture<TrainingNodeFixture>
{
    public const string Name = "training node";
}
