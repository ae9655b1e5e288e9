using System.CommandLine;
using GenerateCT.Deid;
using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;

namespace GenerateCT.Cli.Imaging;

/// <summary>`gct deid`: offline de-identification of a folder of Part 10 files, and `gct deid report` of one report.</summary>
internal static class DeidCommands
{
    public static Command Create()
    {
        var cmd = new Command("deid", "De-identify a folder of DICOM Part 10 files (PS3.15 Annex E) through the node's own code path.");
        var input = new Option<DirectoryInfo>("--in") { Description = "Folder of identified Part 10 files (read recursively).", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where de-identified files go: <study>/<series>/<instance>.dcm under pseudonymous UIDs.", Required = true };
        var secret = SecretOption();
        var options = new Option<string>("--options")
        {
            Description = $"Annex E options, comma-separated: {string.Join(", ", DeidentificationProfile.OptionNames)}; 'none' for the Basic Profile alone.",
            DefaultValueFactory = _ => "retain-characteristics,modified-dates,clean-descriptors",
        };
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.Options.Add(secret);
        cmd.Options.Add(options);
        cmd.SetAction(async (parse, ct) =>
        {
            DeidentificationProfile profile;
            try
            {
                profile = DeidentificationProfile.Parse(parse.GetValue(options)!);
            }
            catch (ArgumentException e)
            {
                throw new CommandFailure(e.Message, e); // an unknown --options name
            }

            var deid = await SiteDeidentifier.OpenAsync(profile, SecretPath(parse.GetValue(secret)), cancellationToken: ct);
            var summary = await FolderDeidentification.RunAsync(deid, parse.GetValue(input)!.FullName, parse.GetValue(output)!.FullName, Console.Error.WriteLine, ct);
            Console.WriteLine($"de-identified {summary.Images} images and {summary.Reports} SR reports; refused {summary.Refused}; skipped {summary.NotDicom} non-DICOM files");
            return 0;
        });
        cmd.Subcommands.Add(CreateReport());
        return cmd;
    }

    private static Command CreateReport()
    {
        var cmd = new Command("report", "De-identify one radiology report: an HL7 v2 ORU^R01 message, a Basic Text SR file, or plain text.");
        var input = new Option<FileInfo>("--in") { Description = "The report file.", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Where the scrubbed report (with pseudonymous accession and prompt) is written.", Required = true };
        var secret = SecretOption();
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.Options.Add(secret);
        cmd.SetAction(async (parse, ct) =>
        {
            var deid = await SiteDeidentifier.OpenAsync(new DeidentificationProfile(), SecretPath(parse.GetValue(secret)), cancellationToken: ct);
            var path = parse.GetValue(input)!.FullName;
            var bytes = await File.ReadAllBytesAsync(path, ct);
            DeidentifiedReport report;
            if (bytes.Length > 132 && bytes.AsSpan(128, 4).SequenceEqual("DICM"u8))
            {
                var outcome = deid.Deidentify(DicomFile.Read(bytes));
                if (outcome is not DeidentifiedSrReport sr)
                {
                    throw new CommandFailure($"{path} is a DICOM file but not a Basic Text, Enhanced or Comprehensive SR; use `gct deid --in DIR` for images");
                }
                report = sr.Report;
            }
            else
            {
                var text = MllpListener.Decode(bytes);
                report = text.TrimStart('\u000b').StartsWith("MSH", StringComparison.Ordinal) ? deid.DeidentifyHl7(text.Trim('\u000b', '\u001c', '\r', '\n')) : deid.DeidentifyText(text);
            }
            await File.WriteAllTextAsync(parse.GetValue(output)!.FullName, ReportFile.Format(report), ct);
            Console.WriteLine(report.Prompt ?? "(no impression section found: no prompt)");
            return 0;
        });
        return cmd;
    }

    private static Option<FileInfo?> SecretOption() => new("--site-secret")
    {
        Description = "The site secret keying UIDs, pseudonyms and date shifts (created with mode 0600 if missing; default ~/.gct/site.secret). Never printed.",
    };

    private static string SecretPath(FileInfo? given) =>
        given?.FullName ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".gct", "site.secret");
}
