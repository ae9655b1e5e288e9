using System.Reflection;
using GenerateCT.Admin.V1;
using GenerateCT.Data.Node;
using GenerateCT.Data.Audit;
using GenerateCT.Deid.Reports;
using GenerateCT.Node.Ingest;
using GenerateCT.Node.Federation;
using GenerateCT.Node.Jobs;
using GenerateCT.Node.Security;
using GenerateCT.Node.Training;
using GenerateCT.Node.Audit;
using Microsoft.Extensions.Options;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Services;

/// <summary>admin.proto's NodeAdmin: status, ingest state and the audit trail for hospital IT (training: NodeAdminService.Training.cs).</summary>
internal sealed partial class NodeAdminService(
    IOptions<NodeOptions> nodeOptions,
    NodeRuntime runtime,
    IDbContextFactory<NodeDb> databases,
    AuditTrail trail,
    DicomIngestService dicom,
    Hl7IngestService hl7,
    SiteKeys keys,
    ReportStore reports,
    GenerationModels models,
    IOptions<GenerationOptions> generationOptions,
    IOptions<TrainingOptions> trainingOptions,
    TrainingSetReader trainingSet,
    StageApprovals approvals,
    TrainingJobStore trainingJobs,
    TrainingWorker trainingWorker,
    TrainingProgress trainingProgress,
    GlobalVersions globalVersions,
    INodeAudit audit) : NodeAdmin.NodeAdminBase
{
    private const int MaxPage = 500;

    private readonly NodeOptions _options = nodeOptions.Value;

    [Authorize(Policy = NodePolicies.Operate)]
    public override async Task<NodeStatus> GetStatus(StatusRequest request, ServerCallContext context)
    {
        await using var db = await databases.CreateDbContextAsync(context.CancellationToken);
        var ct = context.CancellationToken;
        return new NodeStatus
        {
            Version = typeof(NodeAdminService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
            UptimeSeconds = (long)(DateTimeOffset.UtcNow - runtime.StartedAt).TotalSeconds,

            DicomListenerUp = dicom.IsListening,
            DicomPort = dicom.IsListening ? dicom.Port : _options.DicomPort,
            DicomAeTitle = _options.AeTitle,
            Hl7ListenerUp = hl7.IsListening,
            Series = await db.Series.LongCountAsync(ct),
            Instances = await db.Series.SumAsync(s => (long)s.InstanceCount, ct),
            Quarantined = await db.Quarantine.LongCountAsync(ct),
            TrainingSamples = await db.TrainingSamples.LongCountAsync(ct),
            ActiveModel = models.Version ?? "",
        };
    }

    [Authorize(Policy = NodePolicies.ReadIngest)]
    public override async Task<ListSeriesResponse> ListSeries(ListSeriesRequest request, ServerCallContext context)
    {
        var limit = PageSize(request.Limit);
        await using var db = await databases.CreateDbContextAsync(context.CancellationToken);
        var query = db.Series.AsNoTracking().OrderBy(s => s.SeriesKey).AsQueryable();
        if (request.PageToken.Length > 0)
        {
            query = query.Where(s => string.Compare(s.SeriesKey, request.PageToken) > 0);
        }

        var rows = await query.Take(limit + 1).ToListAsync(context.CancellationToken);
        var response = new ListSeriesResponse();
        response.Series.AddRange(rows.Take(limit).Select(s => new SeriesSummary
        {
            StudyKey = s.StudyKey,
            SeriesKey = s.SeriesKey,
            Instances = s.InstanceCount,
            State = s.State,
        }));
        response.NextPageToken = rows.Count > limit ? rows[limit - 1].SeriesKey : "";
        return response;
    }

    [Authorize(Policy = NodePolicies.ReadIngest)]
    public override async Task<ListQuarantineResponse> ListQuarantine(ListQuarantineRequest request, ServerCallContext context)
    {
        await using var db = await databases.CreateDbContextAsync(context.CancellationToken);
        var rows = await db.Quarantine.AsNoTracking()
            .OrderByDescending(q => q.ReceivedAt)
            .Take(PageSize(request.Limit))
            .ToListAsync(context.CancellationToken);
        var response = new ListQuarantineResponse();
        response.Entries.AddRange(rows.Select(q => new QuarantineEntry
        {
            Id = q.Id.ToString(),
            Reason = q.Reason,
            SourceAe = q.SourceAe,
            ReceivedUnixMs = q.ReceivedAt.ToUnixTimeMilliseconds(),
        }));
        return response;
    }

    [Authorize(Policy = NodePolicies.Steward)]
    public override async Task<UploadReportResponse> UploadReport(UploadReportRequest request, ServerCallContext context)
    {
        RadiologyReport report;
        try
        {
            report = request.BodyCase switch
            {
                UploadReportRequest.BodyOneofCase.Text when !string.IsNullOrWhiteSpace(request.Text) => new RadiologyReport { Text = request.Text, AccessionNumber = request.AccessionNumber },
                UploadReportRequest.BodyOneofCase.Hl7Message => FromHl7(request),
                _ => throw new RpcException(new Status(StatusCode.InvalidArgument, "the report is empty: send its text or an HL7 ORU^R01 message")),
            };
        }
        catch (Exception e) when (e is Hl7ParseException or FormatException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"the HL7 message cannot be read: {e.Message}"));
        }

        var deid = keys.Reports.Deidentify(report);
        if (deid.PseudonymousAccessionNumber is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the report has no accession number to link it to a study (set accession_number)"));
        }

        var user = context.GetHttpContext().User.FindFirst("preferred_username")?.Value ?? "unknown";
        var (id, linked) = await reports.SaveAsync(deid, "upload", user, context.CancellationToken);
        return new UploadReportResponse { ReportKey = id.ToString("N"), Prompt = deid.Prompt ?? "", LinkedToSeries = linked };
    }

    /// <summary>An uploaded ORU^R01; the request's accession number fills in for a message without one.</summary>
    private static RadiologyReport FromHl7(UploadReportRequest request)
    {
        var report = OruReportReader.Read(Hl7Message.Parse(request.Hl7Message.ToStringUtf8()));
        return string.IsNullOrEmpty(report.AccessionNumber) && request.AccessionNumber.Length > 0
            ? report with { AccessionNumber = request.AccessionNumber }
            : report;
    }

    [Authorize(Policy = NodePolicies.Audit)]
    public override async Task<VerifyAuditResponse> VerifyAudit(VerifyAuditRequest request, ServerCallContext context)
    {
        var result = await trail.VerifyAsync(context.CancellationToken);
        return new VerifyAuditResponse
        {
            Intact = result.Intact,
            RowsChecked = result.RowsChecked,
            FirstBrokenRow = result.FirstBrokenRow,
            Detail = result.Intact ? $"{result.RowsChecked} rows intact; head hash {Convert.ToHexStringLower(result.HeadHash)}" : result.Problem,
        };
    }

    [Authorize(Policy = NodePolicies.Audit)]
    [ExpensiveCall]
    public override async Task ExportAudit(ExportAuditRequest request, IServerStreamWriter<AuditLine> responseStream, ServerCallContext context)
    {
        AuditExportFormat format;
        try
        {
            format = AuditExport.ParseFormat(request.Format);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }

        var since = DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(0, request.SinceUnixMs));
        var host = Environment.MachineName;
        await foreach (var record in trail.ReadAsync(since, context.CancellationToken))
        {
            await responseStream.WriteAsync(new AuditLine { Line = AuditExport.Format(record, format, host) }, context.CancellationToken);
        }
    }

    [Authorize(Policy = NodePolicies.ReadModels)]
    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        // No bundle configured: the truthful answer is an empty list, not an error.
        var response = new ListModelsResponse();
        if (models.IsConfigured)
        {
            response.Models.AddRange(await InstalledAsync(context.CancellationToken));
        }

        return response;
    }

    /// <summary>
    /// Switches generation to the configured bundle or a global version, without a restart (the model loads
    /// first; a job already running finishes on the bundle it started with). Activating the active one is a no-op.
    /// </summary>
    [Authorize(Policy = NodePolicies.Administer)]
    public override async Task<ModelInfo> ActivateModel(ActivateModelRequest request, ServerCallContext context)
    {
        if (!models.IsConfigured)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, GenerationModels.NotConfigured().Message));
        }

        CallAuditDetail.Add(context, "model", request.Name);
        try
        {
            await models.ActivateAsync(request.Name, context.CancellationToken);
        }
        catch (GenerationUnavailableException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }

        var active = (await InstalledAsync(context.CancellationToken)).Single(m => m.Active);
        CallAuditDetail.Add(context, "version", active.Version);
        return active;
    }

    /// <summary>The configured bundle, then the global versions by number; the active one loaded (its failure is FailedPrecondition).</summary>
    private async Task<List<ModelInfo>> InstalledAsync(CancellationToken ct)
    {
        try
        {
            await models.GetAsync(ct);
        }
        catch (GenerationUnavailableException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }

        var active = models.ActiveDirectory;
        var local = Path.GetFullPath(generationOptions.Value.Bundle!);
        var list = new List<ModelInfo> { Describe(local, GenerationModels.LocalName(local), "local", active) };
        foreach (var v in globalVersions.List())
        {
            var info = Describe(v.Directory, v.Name, "global", active);
            info.VersionNumber = v.Number;
            info.Stage = v.Stage;
            info.CreatedUnixMs = v.CreatedUtc.ToUnixTimeMilliseconds();
            list.Add(info);
        }

        return list;
    }

    private static ModelInfo Describe(string directory, string name, string origin, string? active)
    {
        var manifest = GenerateCT.Model.Pipeline.ModelBundle.ReadManifest(directory);
        return new ModelInfo
        {
            Name = name,
            Version = GenerationModels.VersionOf(manifest),
            Config = manifest.Pipeline,
            Active = directory == active,
            Sha256 = GenerationModels.DigestOf(manifest),
            Origin = origin,
            CreatedUnixMs = manifest.CreatedUtc.ToUnixTimeMilliseconds(),
        };
    }

    private static int PageSize(int requested) => requested <= 0 ? 100 : Math.Min(requested, MaxPage);
}
