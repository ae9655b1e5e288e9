using GenerateCT.Data;
using GenerateCT.Deid.Reports;
using GenerateCT.Testing;
using GenerateCT.Testing.Dicom;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Node.Tests;

public class ReportIngestTests
{
    private const string Oru =
        "MSH|^~\\&|RIS|GENERAL|GCT|NODE|202403051230||ORU^R01^ORU_R01|CTRL0001|P|2.5.1\r" +
        "PID|1||ZZMARKID4711^^^GENERAL^MR||Zzmarkname^Alpha^Q||19600314|F\r" +
        "OBR|1|PLC778|ZZMARKACC991|71250^CT CHEST^CPT|||202403050915\r" +
        "OBX|1|TX|71250&GDT^Findings^L||FINDINGS:~The heart is enlarged. Bilateral pleural effusion. Ms. Zzmarkname tolerated the scan.||||||F\r" +
        "OBX|2|TX|71250&IMP^Impression^L||Cardiomegaly. Bilateral pleural effusion.||||||F\r";

    [Fact]
    public async Task An_hl7_oru_report_is_acknowledged_scrubbed_stored_with_its_prompt_and_audited()
    {
        var dir = Scratch.NewDirectory("gct-node-hl7");
        try
        {
            await using var node = await NodeHost.StartAsync(IngestEndToEndTests.NodeConfig(dir, Scratch.FreePort()));
            var ack = await MllpClient.SendAsync("127.0.0.1", node.Hl7Port!.Value, Oru);
            Assert.Contains("MSA|AA|CTRL0001", ack);

            await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
            var report = await db.Reports.SingleAsync();
            Assert.Equal("hl7", report.Source);
            Assert.StartsWith("A", report.AccessionKey);
            Assert.DoesNotContain("ZZMARKACC", report.AccessionKey);
            Assert.DoesNotContain("Zzmarkname", report.ScrubbedText, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Bilateral pleural effusion", report.ScrubbedText);
            // Born 1960-03-14, examined 2024-03-05: 63 years old.
            Assert.Equal("63 years old female: Cardiomegaly. Bilateral pleural effusion.", report.Prompt);
            Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "ingest:report" && a.Outcome == "success"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_message_that_is_not_a_report_gets_an_application_reject()
    {
        var dir = Scratch.NewDirectory("gct-node-hl7");
        try
        {
            await using var node = await NodeHost.StartAsync(IngestEndToEndTests.NodeConfig(dir, Scratch.FreePort()));
            var ack = await MllpClient.SendAsync("127.0.0.1", node.Hl7Port!.Value, "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|X9|P|2.5.1\rPID|1||X\r");
            Assert.Contains("MSA|AR|X9", ack);
            await using var db = DatabaseSchema.CreateNodeDb(node.DatabaseConnectionString);
            Assert.Equal(0, await db.Reports.CountAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
