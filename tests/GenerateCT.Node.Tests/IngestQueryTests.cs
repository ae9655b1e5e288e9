using GenerateCT.Admin.V1;
using GenerateCT.Data;
using GenerateCT.Data.Node;
using GenerateCT.Node.Security;

namespace GenerateCT.Node.Tests;

[Collection(SecuredNodeCollection.Name)]
public class IngestQueryTests(SecuredNodeFixture node)
{
    private NodeAdmin.NodeAdminClient Admin => new(node.Channel);

    [Fact]
    public async Task Data_stewards_page_through_the_series_in_the_database_by_pseudonymous_key()
    {
        var prefix = "ps-" + Guid.NewGuid().ToString("N")[..8];
        await using (var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString))
        {
            for (var i = 0; i < 3; i++)
            {
                db.Series.Add(new IngestedSeries { Id = Guid.NewGuid(), StudyKey = prefix + "-study", SeriesKey = $"{prefix}-{i}", InstanceCount = 10 + i, State = "assembled", CreatedAt = DateTimeOffset.UtcNow });
            }

            await db.SaveChangesAsync();
        }

        var steward = SecuredNodeFixture.Bearer(node.Token(NodeRoles.DataSteward));
        var seen = new List<SeriesSummary>();
        var token = "";
        do
        {
            var page = await Admin.ListSeriesAsync(new ListSeriesRequest { Limit = 2, PageToken = token }, SecuredNodeFixture.Bearer(node.Token(NodeRoles.DataSteward)));
            Assert.True(page.Series.Count <= 2);
            seen.AddRange(page.Series);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        var mine = seen.Where(s => s.SeriesKey.StartsWith(prefix)).ToList();
        Assert.Equal([$"{prefix}-0", $"{prefix}-1", $"{prefix}-2"], mine.Select(s => s.SeriesKey));
        Assert.Equal([10, 11, 12], mine.Select(s => s.Instances));
        Assert.All(mine, s => Assert.Equal("assembled", s.State));
        Assert.Equal(seen.Count, seen.Select(s => s.SeriesKey).Distinct().Count());

        var status = await Admin.GetStatusAsync(new StatusRequest(), steward);
        Assert.True(status.Series >= 3);
        Assert.True(status.Instances >= 33);
    }

    [Fact]
    public async Task Data_stewards_see_the_quarantine_newest_first()
    {
        var reason = "Modality MR is not CT " + Guid.NewGuid().ToString("N")[..6];
        await using (var db = DatabaseSchema.CreateNodeDb(node.Node.DatabaseConnectionString))
        {
            db.Quarantine.Add(new QuarantinedInstance { Id = Guid.NewGuid(), Reason = "older", SourceAe = "PACS", FileName = "a.dcm", ReceivedAt = DateTimeOffset.UtcNow.AddMinutes(-5) });
            db.Quarantine.Add(new QuarantinedInstance { Id = Guid.NewGuid(), Reason = reason, SourceAe = "PACS", FileName = "b.dcm", ReceivedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync();
        }

        var list = await Admin.ListQuarantineAsync(new ListQuarantineRequest { Limit = 1 }, SecuredNodeFixture.Bearer(node.Token(NodeRoles.DataSteward)));
        var entry = Assert.Single(list.Entries);
        Assert.Equal(reason, entry.Reason);
        Assert.Equal("PACS", entry.SourceAe);
    }
}
