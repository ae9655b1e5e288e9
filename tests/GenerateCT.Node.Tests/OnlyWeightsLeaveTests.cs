using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using GenerateCT.Admin.V1;
using GenerateCT.Coordinator;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Federation.Operator.V1;
using GenerateCT.Federation.Pki;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Hosting;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using GenerateCT.Node.Federation;
using GenerateCT.Node.Security;
using GenerateCT.Testing;
using GenerateCT.Testing.Dicom;
using GenerateCT.Testing.Oidc;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using TrainingStage = GenerateCT.Model.Training.ModelStage;
using WireStage = GenerateCT.Federation.V1.ModelStage;

namespace GenerateCT.Node.Tests;

/// <summary>
/// Issue 17's proof that only weights leave a node: phantoms whose DICOM and reports carry marker identifiers are
/// pushed through the node's real DICOM and HL7 listeners, the DataSteward approves a stage, a real coordinator over
/// mutual TLS runs a round, and every message the node sends the coordinator is recorded as serialized and scanned.
/// </summary>
public class OnlyWeightsLeaveTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Federation = "hospital-net";
    private const string NodeName = "alpha";
    private const string Institution = "ZZ WEXFORD MARKER INFIRMARY";
    private const string Referrer = "ZZDRFENWICK";

    /// <summary>The identifiers one pushed patient carries, in the forms they are pushed in.</summary>
    private sealed record MarkedPatient(int Index, PhantomCase Phantom)
    {
        public string Family => $"ZZQVIST{Index}";

        public string Given => $"OTTILIE{Index}";

        public string Mrn => $"MRN88412{Index}7";

        public string Accession => $"ACC5531{Index}9";

        public DateOnly BirthDate => new(1931, 7, 20 + Index);

        public DateOnly StudyDate => new(2019, 11, 10 + Index);

        public string StudyUid => $"1.2.826.0.1.3680043.10.4711.{Index}.1";

        public string SeriesUid => $"1.2.826.0.1.3680043.10.4711.{Index}.2";

        public string SopUid(int slice) => $"1.2.826.0.1.3680043.10.4711.{Index}.3.{slice + 1}";

        /// <summary>A phrase only this patient's report has (in its impression, so it is in the prompt the stage trains on).</summary>
        public string Phrase => Index == 1 ? "quillfeather ridge sign" : "marbled zephyr opacity";

        public IEnumerable<string> Markers =>
        [
            Family, Given, Mrn, Accession,
            $"{BirthDate:yyyyMMdd}", $"{BirthDate:yyyy-MM-dd}", $"{StudyDate:yyyyMMdd}", $"{StudyDate:yyyy-MM-dd}",
            StudyUid, SeriesUid, .. Enumerable.Range(0, Phantom.Volume.Depth).Select(SopUid),
            Phrase,
        ];
    }

    [Fact]
    public async Task A_round_on_marked_patients_sends_the_coordinator_nothing_but_allowed_names_numbers_and_tensors()
    {
        using var scratch = new Scratch("gct-onlyweights");
        var bundle = scratch.Combine("bundle");
        await TrainBundleAsync(bundle);

        var ca = FederationCa.Initialize(scratch.Combine("ca"), Federation);
        var coordinatorKit = ca.Issue(SiteRole.Coordinator, "localhost").Kit;
        var nodeKit = ca.Issue(SiteRole.Node, NodeName).Kit;
        using var operatorKit = StartupKit.Load(ca.Issue(SiteRole.Operator, "ops-anna").Kit);
        var database = await postgres.CreateDatabaseAsync();
        await using var coordinator = await StartCoordinatorAsync(scratch, coordinatorKit, database);

        await using var issuer = await OidcIssuer.StartAsync(Directory.CreateDirectory(scratch.Combine("oidc")).FullName);
        var clientId = Guid.NewGuid().ToString();
        var config = TestNodeConfiguration.Trusting(issuer, clientId);
        foreach (var (key, value) in TrainingNodeFixture.NodeConfiguration(bundle))
        {
            config[key] = value;
        }

        config["Node:Federation:Kit"] = nodeKit;
        config["Node:Federation:Coordinator"] = coordinator.GrpcAddress.ToString();
        config["Node:Federation:ReconnectSeconds"] = "0.2";
        config["Node:Federation:MaxReconnectSeconds"] = "1";
        var recorder = new WireRecorder();
        var node = await NodeHost.StartAsync(TestNodeConfiguration.Create(scratch.Combine("node"), config), s => s.AddSingleton<CoordinatorInterceptor>(recorder), CancellationToken.None);
        List<MarkedPatient> patients;
        try
        {
            patients = await PushMarkedPatientsAsync(node, scratch.Combine("push"));

            // The markers reached the node (the phrase even the de-identified prompt the stage trains on), so a leak had something to leak.
            await using (var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString))
            {
                Assert.Equal(2, await db.TrainingSamples.CountAsync());
                var prompts = await db.Reports.Select(r => r.Prompt).ToListAsync();
                Assert.All(patients, p => Assert.Contains(prompts, q => q != null && q.Contains(p.Phrase, StringComparison.Ordinal)));
            }

            using (var channel = GrpcClientChannels.ForPinnedServer(node.GrpcAddress, node.Certificate))
            {
                var steward = new CallOptions(
                    headers: new Metadata { { "Authorization", "Bearer " + issuer.IssueToken(new TokenRequest(clientId, [NodeRoles.DataSteward]) { User = "steward@hospital.example" }) } },
                    deadline: DateTime.UtcNow.AddSeconds(30));
                var approval = await new NodeAdmin.NodeAdminClient(channel).ApproveStageAsync(new StageApprovalRequest { Stage = "maskgit" }, steward);
                Assert.True(approval.Approved);
            }

            await WaitForAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.EnrolAction);
            await StartRoundAsync(operatorKit, coordinator.GrpcAddress, bundle);
            var round = (await WaitForAsync(node.DatabaseConnectionString, r => r.Action == FederationClient.RoundAction)).First(r => r.Action == FederationClient.RoundAction);
            // The round was joined (approved stage) and run: download, local steps, upload, metrics.
            Assert.True(round.Outcome == "success", round.Detail);
            using var detail = System.Text.Json.JsonDocument.Parse(round.Detail!);
            Assert.Equal(1, detail.RootElement.GetProperty("round").GetInt64());
            Assert.Equal("maskgit", detail.RootElement.GetProperty("stage").GetString());
        }
        finally
        {
            // Nothing more is sent once the node is stopped: what was recorded is all that left it.
            await node.DisposeAsync();
        }

        var markers = patients.SelectMany(p => p.Markers).Concat([Institution, Referrer]).ToList();
        var allowed = AllowList(bundle);

        // Calls: only the Coordinator service's methods, no metadata of the node's own.
        var methods = FederationReflection.Descriptor.Services.Single(s => s.Name == "Coordinator").Methods.Select(m => $"/{m.Service.FullName}/{m.Name}").ToHashSet();
        Assert.NotEmpty(recorder.Calls);
        Assert.All(recorder.Calls, c => Assert.Contains(c.Method, methods));
        Assert.All(recorder.Calls, c => Assert.Empty(c.Headers));
        Assert.Contains(recorder.Calls, c => c.Method.EndsWith("/Enrol", StringComparison.Ordinal));
        Assert.Contains(recorder.Calls, c => c.Method.EndsWith("/WatchRounds", StringComparison.Ordinal));
        Assert.Contains(recorder.Calls, c => c.Method.EndsWith("/DownloadModel", StringComparison.Ordinal));
        Assert.Contains(recorder.Calls, c => c.Method.EndsWith("/UploadUpdate", StringComparison.Ordinal));
        Assert.Contains(recorder.Calls, c => c.Method.EndsWith("/ReportMetrics", StringComparison.Ordinal));

        // Every message: no marker in its bytes, every string and map key on the list, bytes only tensors and hashes.
        var sent = recorder.Messages;
        Assert.NotEmpty(sent);
        var leaks = sent.SelectMany(m => WireCheck.MarkerHits(m.Bytes, markers).Select(h => $"{m.Method}: {h}")).ToList();
        Assert.True(leaks.Count == 0, "markers sent to the coordinator: " + string.Join("; ", leaks));
        var violations = sent.SelectMany(m => WireCheck.Violations(m.Parse(), allowed).Select(v => $"{m.Method}: {v}")).ToList();
        Assert.True(violations.Count == 0, string.Join("\n", violations));
        var uploaded = sent.Select(m => m.Parse()).OfType<UpdateMessage>().Where(u => u.BodyCase == UpdateMessage.BodyOneofCase.Chunk).Select(u => u.Chunk).ToList();
        Assert.Empty(WireCheck.HashViolations(uploaded));
        // The round's update: every tensor of the MaskGIT stage, nothing else; a metrics report of allowed names.
        Assert.Equal(
            BundleWeights.ReadStage(bundle, TrainingStage.MaskGit).Select(t => t.Name).Order(StringComparer.Ordinal),
            uploaded.Where(c => c.LastChunkOfTensor).Select(c => c.Name).Distinct().Order(StringComparer.Ordinal));
        var report = Assert.IsType<MetricsReport>(sent.Single(m => m.Type == MetricsReport.Descriptor).Parse());
        Assert.NotEmpty(report.Scalars);
        var enrol = Assert.IsType<EnrolRequest>(sent.First(m => m.Type == EnrolRequest.Descriptor).Parse());
        Assert.Contains(enrol.Device, allowed.Devices);

        // The TLS client certificate the coordinator saw is the kit's, and it names the node, its role and the federation only.
        using var kit = StartupKit.Load(nodeKit);
        await using (var db = DatabaseSchema.CreateCoordinatorDb(database))
        {
            var enrolled = await db.Nodes.SingleAsync();
            Assert.Equal(NodeName, enrolled.NodeId);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(kit.Certificate.RawData)), enrolled.CertificateThumbprint);
        }

        Assert.Empty(CertificateViolations(kit.Certificate));
        Assert.Empty(WireCheck.MarkerHits(kit.Certificate.RawData, markers));
    }

    [Fact]
    public async Task The_recorder_captures_every_request_of_every_call_kind_as_sent_and_a_weights_only_round_passes_the_scans()
    {
        // The recorder on a client of the node's kit against a real coordinator: unary, server-streaming and
        // client-streaming calls of a whole round (enrol, download, upload, metrics), each message as written.
        using var scratch = new Scratch("gct-onlyweights");
        var bundle = scratch.Combine("bundle");
        await TrainBundleAsync(bundle);
        var allowed = AllowList(bundle);
        var ca = FederationCa.Initialize(scratch.Combine("ca"), Federation);
        var coordinatorKit = ca.Issue(SiteRole.Coordinator, "localhost").Kit;
        using var kit = StartupKit.Load(ca.Issue(SiteRole.Node, NodeName).Kit);
        using var operatorKit = StartupKit.Load(ca.Issue(SiteRole.Operator, "ops-anna").Kit);
        await using var coordinator = await StartCoordinatorAsync(scratch, coordinatorKit, await postgres.CreateDatabaseAsync());
        using var channel = kit.CreateCoordinatorChannel(coordinator.GrpcAddress);
        var recorder = new WireRecorder();
        var client = new GenerateCT.Federation.V1.Coordinator.CoordinatorClient(channel.Intercept(recorder));
        var written = new List<IMessage>();

        var enrol = new EnrolRequest { NodeSoftwareVersion = allowed.SoftwareVersions.Single(), Device = allowed.Devices.Single(), TrainingSamples = 2 };
        written.Add(enrol);
        await client.EnrolAsync(enrol);
        var version = await StartRoundAsync(operatorKit, coordinator.GrpcAddress, bundle);

        var download = new DownloadModelRequest { ModelVersion = version, Stage = WireStage.Maskgit };
        written.Add(download);
        var assembler = new ChunkAssembler();
        using (var call = client.DownloadModel(download))
        {
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                assembler.Add(chunk);
            }
        }

        var baseWeights = assembler.ToWeightSet();
        var delta = new GenerateCT.Federation.Weights.WeightSet(baseWeights.Select(t => new GenerateCT.Federation.Weights.WeightTensor(t.Name, t.Shape, t.Data.Select(v => v * 1e-3f).ToArray())));
        using (var call = client.UploadUpdate())
        {
            var header = new UpdateMessage { Header = new UpdateHeader { Round = 1, Stage = WireStage.Maskgit, BaseModelVersion = version, SampleCount = 2 } };
            written.Add(header);
            await call.RequestStream.WriteAsync(header);
            foreach (var chunk in ChunkWriter.Chunks(delta, 64 * 1024))
            {
                var message = new UpdateMessage { Chunk = chunk };
                written.Add(message);
                await call.RequestStream.WriteAsync(message, CancellationToken.None); // the node's writes pass a token
            }

            await call.RequestStream.CompleteAsync();
            var reply = await call;
            Assert.True(reply.Accepted, reply.Reason);
        }

        var metrics = new MetricsReport { Round = 1, Stage = WireStage.Maskgit, SampleCount = 2, Scalars = { ["loss"] = 2.5, ["masked_token_accuracy"] = 0.25 } };
        written.Add(metrics);
        Assert.Empty((await client.ReportMetricsAsync(metrics)).Refused);

        Assert.Equal(
            ["Enrol", "DownloadModel", "UploadUpdate", "ReportMetrics"],
            recorder.Calls.Select(c => c.Method[(c.Method.LastIndexOf('/') + 1)..]));
        Assert.True(written.Count > 3 + baseWeights.Count, $"{written.Count} messages for {baseWeights.Count} tensors");
        Assert.Equal(written.Select(m => m.Descriptor.FullName), recorder.Messages.Select(m => m.Type.FullName));
        Assert.Equal(written.Select(m => Convert.ToHexString(m.ToByteArray())), recorder.Messages.Select(m => Convert.ToHexString(m.Bytes)));
        Assert.Equal(written, recorder.Messages.Select(m => m.Parse()));

        // What a node sends for a round (names of the model's tensors, float32 data, their hashes, allowed metrics) passes.
        Assert.All(recorder.Messages, m => Assert.Empty(WireCheck.Violations(m.Parse(), allowed)));
        var uploaded = recorder.Messages.Select(m => m.Parse()).OfType<UpdateMessage>().Where(u => u.BodyCase == UpdateMessage.BodyOneofCase.Chunk).Select(u => u.Chunk).ToList();
        Assert.Equal(baseWeights.Count, uploaded.Count(c => c.LastChunkOfTensor));
        Assert.Empty(WireCheck.HashViolations(uploaded));
    }

    [Fact]
    public void The_scans_find_a_marker_or_a_name_planted_in_a_message()
    {
        // Self-check: the same scans the round test relies on, on messages with something planted in them.
        var allowed = new WireAllowList(
            new HashSet<string> { "1.0.0" },
            new HashSet<string> { "cpu" },
            new Dictionary<string, IReadOnlyList<long>> { ["maskgit.w"] = [2, 2] },
            RoundMetrics.Allowed);
        var phrase = "quillfeather ridge sign";
        var clean = new MetricsReport { Round = 1, Stage = WireStage.Maskgit, SampleCount = 2, Scalars = { ["loss"] = 1.5 } };
        Assert.Empty(WireCheck.MarkerHits(clean.ToByteArray(), [phrase]));
        Assert.Empty(WireCheck.Violations(clean, allowed));

        // A report phrase as a metric name: both the marker scan and the allow-list see it.
        var phraseMetric = new MetricsReport { Round = 1, Scalars = { ["loss"] = 1.5, [phrase] = 0.1 } };
        Assert.Equal([phrase], WireCheck.MarkerHits(phraseMetric.ToByteArray(), [phrase]));
        Assert.Contains(WireCheck.Violations(phraseMetric, allowed), v => v.Contains(phrase, StringComparison.Ordinal));

        // A name as the device, an MRN in UTF-16 and a name in another case inside tensor data, a UID as a tensor name.
        var device = new EnrolRequest { NodeSoftwareVersion = "1.0.0", Device = "cpu ZZQVIST1", TrainingSamples = 2 };
        Assert.Equal(["ZZQVIST1"], WireCheck.MarkerHits(device.ToByteArray(), ["ZZQVIST1", "MRN8841217"]));
        Assert.Single(WireCheck.Violations(device, allowed));
        var data = Encoding.Unicode.GetBytes("MRN8841217").Concat(Encoding.UTF8.GetBytes("zzqvist1")).ToArray();
        var chunk = new UpdateMessage { Chunk = new TensorChunk { Name = "maskgit.w", Shape = { 2, 2 }, Dtype = TensorDtype.Float32, Data = ByteString.CopyFrom(data) } };
        Assert.Equal(["ZZQVIST1", "MRN8841217"], WireCheck.MarkerHits(chunk.ToByteArray(), ["ZZQVIST1", "MRN8841217"]));
        Assert.Contains(WireCheck.Violations(chunk, allowed), v => v.Contains("not a slice", StringComparison.Ordinal));
        var uid = new UpdateMessage { Chunk = new TensorChunk { Name = "1.2.826.0.1.3680043.10.4711.1.1", Shape = { 2, 2 }, Dtype = TensorDtype.Float32 } };
        Assert.Contains(WireCheck.Violations(uid, allowed), v => v.Contains("1.2.826.0.1.3680043.10.4711.1.1", StringComparison.Ordinal));

        // A hash that is not the hash of the tensor's data (e.g. 32 bytes of text) is seen.
        var forged = new TensorChunk { Name = "maskgit.w", Shape = { 2, 2 }, Dtype = TensorDtype.Float32, Data = ByteString.CopyFrom(new byte[16]), LastChunkOfTensor = true, Sha256 = ByteString.CopyFrom(Encoding.ASCII.GetBytes("ZZQVIST1 OTTILIE1 MRN8841217 xyz")) };
        Assert.Empty(WireCheck.Violations(new UpdateMessage { Chunk = forged }, allowed));
        Assert.Single(WireCheck.HashViolations([forged]));
        Assert.Empty(WireCheck.HashViolations([new TensorChunk(forged) { Sha256 = ByteString.CopyFrom(SHA256.HashData(new byte[16])) }]));

        // A message type the node has no business sending.
        Assert.Contains(WireCheck.Violations(new RegisterModelHeader { Label = "x" }, allowed), v => v.Contains("not a request", StringComparison.Ordinal));
    }

    /// <summary>A tiny bundle trained here in seconds: the round's base model.</summary>
    private static Task TrainBundleAsync(string bundle) =>
        TinyBundle.TrainAsync(bundle, cases: 2, size: 32, steps: 1, seed: 7, firstSeed: 70);

    /// <summary>Two marked patients: their CT series by storescu over DICOM, their reports as HL7 ORU^R01 over MLLP.</summary>
    private static async Task<List<MarkedPatient>> PushMarkedPatientsAsync(NodeHost node, string dir)
    {
        var patients = new List<MarkedPatient>();
        FindingKind[][] findings = [[FindingKind.Cardiomegaly], [FindingKind.PleuralEffusion]];
        for (var i = 0; i < findings.Length; i++)
        {
            var phantom = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = 300 + i, Slices = 9, Size = 32, FindingKinds = findings[i] });
            var patient = new MarkedPatient(i + 1, phantom);
            patients.Add(patient);
            var instances = CtSeriesWriter.CreateInstances(phantom.Volume, new CtSeriesOptions
            {
                PatientName = $"{patient.Family}^{patient.Given}",
                PatientId = patient.Mrn,
                PatientAge = $"{phantom.Age:D3}Y",
                PatientSex = phantom.Sex == PatientSex.Male ? "M" : "F",
                PatientBirthDate = patient.BirthDate,
                AccessionNumber = patient.Accession,
                StudyDateTime = patient.StudyDate.ToDateTime(new TimeOnly(9, 0)),
                StudyDescription = $"CT CHEST {patient.Family}",
                InstitutionName = Institution,
                StudyInstanceUid = patient.StudyUid,
                SeriesInstanceUid = patient.SeriesUid,
            });
            var folder = Path.Combine(dir, $"p{i}");
            Directory.CreateDirectory(folder);
            for (var s = 0; s < instances.Count; s++)
            {
                instances[s].SetUid(DicomTag.SOPInstanceUID, patient.SopUid(s));
                instances[s].SetString(DicomTag.ReferringPhysicianName, $"{Referrer}^BOB", DicomVR.PN);
                await File.WriteAllBytesAsync(Path.Combine(folder, $"{s:D3}.dcm"), new DicomFile(instances[s], DicomTransferSyntax.ExplicitVRLittleEndian).ToBytes());
            }
        }

        var push = await DcmtkTool.RunAsync("storescu", ["-aec", node.Options.AeTitle, "+sd", "+r", "127.0.0.1", node.DicomPort.ToString(), dir], TimeSpan.FromMinutes(2));
        Assert.True(push.ExitCode == 0, push.Output);
        foreach (var patient in patients)
        {
            var ack = await MllpClient.SendAsync("127.0.0.1", node.Hl7Port!.Value, Oru(patient));
            Assert.Contains("MSA|AA", ack);
        }

        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
            if (await db.TrainingSamples.CountAsync() >= patients.Count && await db.Reports.CountAsync() >= patients.Count)
            {
                return patients;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"the node assembled {await db.TrainingSamples.CountAsync()} series and stored {await db.Reports.CountAsync()} reports in 90 s");
            }

            await Task.Delay(200);
        }
    }

    private static string Oru(MarkedPatient patient)
    {
        var report = patient.Phantom.Report;
        var text = $"Findings: {report.Findings} Ms. {patient.Family} tolerated the scan at {Institution}, referred by Dr. {Referrer}.\n\nImpression: {report.Impression} {patient.Phrase}.\n";
        text = Hl7Escaping.Escape(text, Hl7Delimiters.Default).Replace("\n", "\\.br\\", StringComparison.Ordinal);
        return
            $"MSH|^~\\&|RIS|HOSPITAL|GCT|NODE|{DateTime.UtcNow:yyyyMMddHHmmss}||ORU^R01^ORU_R01|M{patient.Index}|P|2.5.1\r" +
            $"PID|1||{patient.Mrn}^^^HOSPITAL^MR||{patient.Family}^{patient.Given}||{patient.BirthDate:yyyyMMdd}|{(patient.Phantom.Sex == PatientSex.Male ? "M" : "F")}\r" +
            $"OBR|1||{patient.Accession}|71250^CT CHEST^CPT|||{patient.StudyDate:yyyyMMdd}0900\r" +
            $"OBX|1|TX|71250&GDT^Report^L||{text}||||||F\r";
    }

    private static Task<CoordinatorHost> StartCoordinatorAsync(Scratch scratch, string kit, string database) =>
        CoordinatorHost.StartAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Coordinator:DataDirectory"] = scratch.Combine("coordinator"),
            ["Coordinator:GrpcPort"] = "0",
            ["Coordinator:GrpcAddress"] = "127.0.0.1",
            ["Coordinator:ConnectionString"] = database,
            ["Coordinator:Pki:Kit"] = kit,
            ["Coordinator:RoundCheckMilliseconds"] = "100",
        }).Build());

    /// <summary>The operator registers the bundle's MaskGIT weights as a version and starts a round on it with k = 1; the version.</summary>
    private static async Task<long> StartRoundAsync(StartupKit operatorKit, Uri coordinator, string bundle)
    {
        using var channel = operatorKit.CreateCoordinatorChannel(coordinator);
        var ops = new GenerateCT.Federation.Operator.V1.Operator.OperatorClient(channel);
        using var register = ops.RegisterModel();
        await register.RequestStream.WriteAsync(new RegisterModelMessage { Header = new RegisterModelHeader { Label = "base" } });
        await register.RequestStream.WriteAsync(new RegisterModelMessage { Stage = WireStage.Maskgit });
        foreach (var chunk in ChunkWriter.Chunks(BundleWeights.ReadStage(bundle, TrainingStage.MaskGit)))
        {
            await register.RequestStream.WriteAsync(new RegisterModelMessage { Chunk = chunk });
        }

        await register.RequestStream.CompleteAsync();
        var version = await register;
        await ops.StartRoundAsync(new StartRoundRequest { Stage = WireStage.Maskgit, BaseVersion = version.Version, LocalSteps = 2, LearningRate = 1e-4, BatchSize = 1, MinNodes = 1, DeadlineSeconds = 120 });
        return version.Version;
    }

    /// <summary>
    /// What the node may send: its software version, its device, the model's state-dict keys (every stage of the
    /// base bundle, with their shapes) and the metric names of the allow-list.
    /// </summary>
    private static WireAllowList AllowList(string bundle)
    {
        var tensors = new Dictionary<string, IReadOnlyList<long>>(StringComparer.Ordinal);
        foreach (var stage in new[] { TrainingStage.CtVit, TrainingStage.MaskGit, TrainingStage.SuperRes })
        {
            foreach (var tensor in BundleWeights.ReadStage(bundle, stage))
            {
                tensors[tensor.Name] = tensor.Shape;
            }
        }

        return new WireAllowList(
            new HashSet<string> { typeof(FederationClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion },
            new HashSet<string> { TorchDevice.Describe(TorchDevice.Select("cpu")) },
            tensors,
            RoundMetrics.Allowed);
    }

    /// <summary>Subject, issuer and extension fields of the node's certificate beyond its name, role and federation.</summary>
    private static List<string> CertificateViolations(X509Certificate2 certificate)
    {
        var violations = new List<string>();
        var subject = certificate.SubjectName.EnumerateRelativeDistinguishedNames().Select(r => $"{r.GetSingleElementType().Value}={r.GetSingleElementValue()}").ToHashSet(StringComparer.Ordinal);
        if (!subject.SetEquals([$"2.5.4.3={NodeName}", "2.5.4.11=node", $"2.5.4.10={Federation}"]))
        {
            violations.Add("subject: " + certificate.Subject);
        }

        var issuer = certificate.IssuerName.EnumerateRelativeDistinguishedNames().Select(r => r.GetSingleElementValue()).ToHashSet();
        if (!issuer.SetEquals([$"{Federation} federation CA", "ca", Federation]))
        {
            violations.Add("issuer: " + certificate.Issuer);
        }

        // Basic constraints, key usage, extended key usage, subject and authority key identifiers; no alternative names.
        var extensions = new HashSet<string> { "2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.14", "2.5.29.35" };
        violations.AddRange(certificate.Extensions.Where(e => !extensions.Contains(e.Oid!.Value!)).Select(e => $"extension {e.Oid!.Value} ({e.Oid.FriendlyName}): {e.Format(false)}"));
        return violations;
    }

    private static async Task<List<AuditRecord>> WaitForAsync(string connectionString, Func<AuditRecord, bool> wanted)
    {
        var trail = new AuditTrail(connectionString);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            var records = await trail.ReadAsync(DateTimeOffset.MinValue).ToListAsync();
            if (records.Any(wanted))
            {
                return records;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the awaited audit record did not appear in 120 s");
    }
}
