using System.CommandLine;
using System.Globalization;
using GenerateCT.Data;
using GenerateCT.Data.Audit;
using GenerateCT.Hosting;

namespace GenerateCT.Cli.Audit;

/// <summary>
/// `gct audit verify|export`: read a node's audit chain straight from its database, whether the
/// node runs or not (a running embedded cluster is attached to, a stopped one started and stopped).
/// </summary>
internal static class AuditCommands
{
    public static Command Create()
    {
        var cmd = new Command("audit", "Verify or export a node's tamper-evident audit trail.");
        cmd.Subcommands.Add(Verify());
        cmd.Subcommands.Add(Export());
        return cmd;
    }

    private static Option<DirectoryInfo?> DataDirOption() =>
        new("--data-dir") { Description = "The node's data directory (its embedded database). Default: the node's default data directory." };

    private static Option<string?> ConnectionOption() =>
        new("--connection-string") { Description = "PostgreSQL connection string of the node's database, when it does not use the embedded one." };

    private static Command Verify()
    {
        var cmd = new Command("verify", "Walk the hash chain from its first row; exit 0 when intact, 2 at the first broken link.");
        var dataDir = DataDirOption();
        var connection = ConnectionOption();
        cmd.Options.Add(dataDir);
        cmd.Options.Add(connection);
        cmd.SetAction((parse, ct) => Reporting(async () =>
        {
            await using var db = await OpenAsync(parse.GetValue(dataDir), parse.GetValue(connection), ct);
            var result = await new AuditTrail(db.ConnectionString).VerifyAsync(ct);
            if (result.Intact)
            {
                Console.Out.WriteLine($"audit chain intact: {result.RowsChecked} rows; head hash {Convert.ToHexStringLower(result.HeadHash)}");
                return 0;
            }

            Console.Out.WriteLine($"audit chain BROKEN at row {result.FirstBrokenRow}: {result.Problem} ({result.RowsChecked} rows read)");
            return 2;
        }));
        return cmd;
    }

    private static Command Export()
    {
        var cmd = new Command("export", "Write audit rows as RFC 5424 syslog lines (IHE ATNA style) or JSON lines.");
        var dataDir = DataDirOption();
        var connection = ConnectionOption();
        var since = new Option<string?>("--since") { Description = "Only rows at or after this time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T08:00:00Z; UTC unless an offset is given)." };
        var format = new Option<string>("--format") { Description = "syslog (default) or json.", DefaultValueFactory = _ => "syslog" };
        var output = new Option<FileInfo?>("--output") { Description = "Write to this file instead of standard output." };
        cmd.Options.Add(dataDir);
        cmd.Options.Add(connection);
        cmd.Options.Add(since);
        cmd.Options.Add(format);
        cmd.Options.Add(output);
        cmd.SetAction((parse, ct) => Reporting(async () =>
        {
            var exportFormat = AuditExport.ParseFormat(parse.GetValue(format));
            var from = ParseSince(parse.GetValue(since));
            await using var db = await OpenAsync(parse.GetValue(dataDir), parse.GetValue(connection), ct);
            var file = parse.GetValue(output);
            await using var writer = file is null ? null : new StreamWriter(file.FullName, append: false);
            var sink = writer ?? Console.Out;
            var host = Environment.MachineName;
            await foreach (var record in new AuditTrail(db.ConnectionString).ReadAsync(from, ct))
            {
                await sink.WriteLineAsync(AuditExport.Format(record, exportFormat, host));
            }

            await sink.FlushAsync(ct);
            return 0;
        }));
        return cmd;
    }

    /// <summary>Usage errors (missing database, bad --since or --format) print one line and exit 1, without a stack trace.</summary>
    private static async Task<int> Reporting(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is DirectoryNotFoundException or ArgumentException or PostgresClusterException or Npgsql.NpgsqlException)
        {
            await Console.Error.WriteLineAsync("gct audit: " + e.Message);
            return 1;
        }
    }

    private static DateTimeOffset ParseSince(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return DateTimeOffset.UnixEpoch;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }

        throw new ArgumentException($"--since '{value}' is not a date/time (use ISO 8601, e.g. 2026-11-01T08:00:00Z)");
    }

    private static async Task<DatabaseConnection> OpenAsync(DirectoryInfo? dataDir, string? connectionString, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            return await DatabaseConnection.OpenAsync(connectionString, "", ct);
        }

        var dir = dataDir?.FullName ?? DataDirectories.Default("node");
        if (!File.Exists(Path.Combine(dir, "postgres", "data", "PG_VERSION")))
        {
            throw new DirectoryNotFoundException($"no node database in '{dir}' (expected {Path.Combine(dir, "postgres")}); pass the node's --data-dir or --connection-string");
        }

        return await DatabaseConnection.OpenAsync(null, dir, ct);
    }
}
