using System.Text;
using System.Text.Json;
using GenerateCT.Admin.V1;
using GenerateCT.Data;
using GenerateCT.Node.Security;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Tests;

/// <summary>The training set as the DataSteward sees it, and the stage approvals only the steward gives.</summary>
[Collection(TrainingNodeCollection.Name)]
public class TrainingSetTests(TrainingNodeFixture node)
{
    private NodeAdmin.NodeAdminClient Admin => new(node.Channel);

    [Fact]
    public async Task Pushed_series_and_reports_form_a_training_set_the_steward_counts_per_finding()
    {
        var summary = await Admin.GetTrainingSetAsync(new GetTrainingSetRequest(), node.Call(node.As(NodeRoles.DataSteward, "steward@hospital.example")));

        Assert.Equal(5, summary.Volumes);
        Assert.Equal(4, summary.WithReport);
        Assert.Equal(1, summary.WithoutReport);
        var findings = summary.Findings.ToDictionary(f => f.Finding, f => f.Volumes);
        Assert.Equal(
            new Dictionary<string, long>
            {
                ["cardiomegaly"] = 2,
                ["pericardial-effusion"] = 0,
                ["pleural-effusion"] = 1,
                ["lung-nodules"] = 0,
                ["consolidation"] = 0,
                ["emphysema"] = 1,
                ["atelectasis"] = 0,
                ["normal"] = 1,
            },
            findings);
        // Volumes without a report are for CT-ViT only.
        Assert.Equal(
            new Dictionary<string, long> { ["ctvit"] = 5, ["maskgit"] = 4, ["superres"] = 4 },
            summary.Stages.ToDictionary(s => s.Stage, s => s.Volumes));
    }

    [Fact]
    public async Task The_counts_carry_no_report_text_no_prompt_and_no_key()
    {
        var summary = await Admin.GetTrainingSetAsync(new GetTrainingSetRequest(), node.Call(node.As(NodeRoles.Admin, "it@hospital.example")));
        var bytes = Encoding.UTF8.GetString(summary.ToByteArray());

        await using var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        var secrets = (await db.Series.Select(s => s.SeriesKey).ToListAsync())
            .Concat(await db.Series.Select(s => s.StudyKey).ToListAsync())
            .Concat((await db.Reports.Select(r => r.AccessionKey).ToListAsync()))
            .Concat((await db.Reports.Select(r => r.Prompt!).ToListAsync()).Select(p => p[..p.IndexOf(':')]))
            .Concat(node.Pushed.SelectMany(p => new[] { p.Phi!.PatientName.Split(' ')[1], p.Phi.MedicalRecordNumber, p.Phi.AccessionNumber }))
            .Concat(["years old", "Impression", "Cardiomegaly."])
            .ToList();
        Assert.Equal(36, secrets.Count);
        Assert.All(secrets, s => Assert.DoesNotContain(s, bytes));
    }

    [Fact]
    public async Task A_researcher_cannot_read_the_counts_an_admin_cannot_approve_and_a_steward_cannot_start_training()
    {
        var researcher = await Assert.ThrowsAsync<RpcException>(() =>
            Admin.GetTrainingSetAsync(new GetTrainingSetRequest(), node.Call(node.As(NodeRoles.Researcher, "res@hospital.example"))).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, researcher.StatusCode);

        var admin = await Assert.ThrowsAsync<RpcException>(() =>
            Admin.ApproveStageAsync(new StageApprovalRequest { Stage = "maskgit" }, node.Call(node.As(NodeRoles.Admin, "it@hospital.example"))).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, admin.StatusCode);

        var steward = await Assert.ThrowsAsync<RpcException>(() =>
            Admin.StartTrainingAsync(new StartTrainingRequest { Stage = "maskgit", Steps = 2, LearningRate = 1e-3, BatchSize = 1 }, node.Call(node.As(NodeRoles.DataSteward, "steward@hospital.example"))).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, steward.StatusCode);

        await using var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        Assert.False(await db.StageApprovals.AnyAsync(a => a.ChangedBy == "it@hospital.example"));
        Assert.False(await db.TrainingJobs.AnyAsync(j => j.RequestedBy == "steward@hospital.example"));
        var denied = await db.AuditEvents.Where(a => a.Outcome == "denied").Select(a => a.Action).ToListAsync();
        Assert.Contains("grpc:/generatect.admin.v1.NodeAdmin/GetTrainingSet", denied);
        Assert.Contains("grpc:/generatect.admin.v1.NodeAdmin/ApproveStage", denied);
        Assert.Contains("grpc:/generatect.admin.v1.NodeAdmin/StartTraining", denied);
    }

    [Fact]
    public async Task Stage_approvals_persist_and_every_approval_and_withdrawal_is_audited_with_the_steward()
    {
        var anna = node.Call(node.As(NodeRoles.DataSteward, "anna.steward@hospital.example"));
        var ben = node.Call(node.As(NodeRoles.DataSteward, "ben.steward@hospital.example"));

        var approved = await Admin.ApproveStageAsync(new StageApprovalRequest { Stage = "superres" }, anna);
        Assert.True(approved.Approved);
        Assert.Equal("anna.steward@hospital.example", approved.ChangedBy);
        await Admin.ApproveStageAsync(new StageApprovalRequest { Stage = "ctvit" }, anna);
        var withdrawn = await Admin.WithdrawStageAsync(new StageApprovalRequest { Stage = "superres" }, ben);
        Assert.False(withdrawn.Approved);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => Admin.ApproveStageAsync(new StageApprovalRequest { Stage = "vae" }, anna).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);

        var list = await Admin.ListStageApprovalsAsync(new ListStageApprovalsRequest(), node.Call(node.As(NodeRoles.Admin, "it@hospital.example")));
        var byStage = list.Stages.ToDictionary(s => s.Stage);
        Assert.Equal(["ctvit", "maskgit", "superres"], list.Stages.Select(s => s.Stage));
        Assert.True(byStage["ctvit"].Approved);
        Assert.Equal("anna.steward@hospital.example", byStage["ctvit"].ChangedBy);
        Assert.False(byStage["superres"].Approved);
        Assert.Equal("ben.steward@hospital.example", byStage["superres"].ChangedBy);

        // Rows in the database (what the federation client asks), and one audit row per change, with the steward.
        await using var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString);
        var rows = await db.StageApprovals.ToDictionaryAsync(a => a.Stage);
        Assert.True(rows["ctvit"].Approved);
        Assert.False(rows["superres"].Approved);
        var audit = await db.AuditEvents.Where(a => a.Action == "training:stage-approval").OrderBy(a => a.Id).ToListAsync();
        var changes = audit
            .Select(a => (a.Actor, JsonDocument.Parse(a.Detail!).RootElement))
            .Where(a => a.Item2.GetProperty("stage").GetString() is "superres" or "ctvit")
            .Select(a => (a.Actor, Stage: a.Item2.GetProperty("stage").GetString(), Approved: a.Item2.GetProperty("approved").GetBoolean()))
            .ToList();
        Assert.Equal(
            [
                ("anna.steward@hospital.example", "superres", true),
                ("anna.steward@hospital.example", "ctvit", true),
                ("ben.steward@hospital.example", "superres", false),
            ],
            changes);
        Assert.All(audit, a => Assert.Equal("success", a.Outcome));
    }
}
