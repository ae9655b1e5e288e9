using System.CommandLine;
using GenerateCT.Imaging;
using GenerateCT.Imaging.Montage;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using Spectre.Console;

namespace GenerateCT.Cli.Imaging;

/// <summary>`gct phantom` (synthetic chest CTs with reports) and `gct preview` (PNG montage of a volume).</summary>
internal static class ImagingCommands
{
    public static IEnumerable<Command> Create() => [CreatePhantom(), CreatePreview()];

    private static Command CreatePhantom()
    {
        var cmd = new Command("phantom", "Generate synthetic chest CT phantoms with matching radiology reports (NIfTI, DICOM series, report and JSON per case).");
        var count = new Option<int>("--count") { Description = "Number of cases.", DefaultValueFactory = _ => 1 };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Output directory.", Required = true };
        var findings = new Option<string?>("--findings")
        {
            Description = "Comma-separated findings for every case (cardiomegaly, pleural-effusion, pericardial-effusion, lung-nodules, consolidation, emphysema, atelectasis), or \"random\" for a random subset per case. Default: none.",
        };
        var slices = new Option<int>("--slices") { Description = "Axial slices over 300 mm (201 = 1.5 mm, GenerateCT's output depth).", DefaultValueFactory = _ => 201 };
        var size = new Option<int>("--size") { Description = "In-plane matrix over a 360 mm field of view.", DefaultValueFactory = _ => 512 };
        var seed = new Option<int>("--seed") { Description = "Seed of the first case; case i uses seed + i.", DefaultValueFactory = _ => 0 };
        var phi = new Option<bool>("--plant-phi") { Description = "Plant invented identifiers (name, MRN, accession, dates, referring physician) in the reports, with their spans in the JSON." };
        var preview = new Option<bool>("--preview") { Description = "Also write a mediastinal-window PNG montage per case." };
        foreach (var o in new Option[] { count, outDir, findings, slices, size, seed, phi, preview })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            int n = parse.GetValue(count);
            if (n < 1)
            {
                throw new CommandFailure("--count must be at least 1");
            }

            string dir = parse.GetValue(outDir)!.FullName;
            string? findingText = parse.GetValue(findings);
            IReadOnlyList<FindingKind> fixedKinds;
            try
            {
                fixedKinds = findingText is null || findingText == "random"
                    ? []
                    : findingText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Finding.ParseKind).ToList();
            }
            catch (ArgumentException e)
            {
                throw new CommandFailure(e.Message, e);
            }

            Directory.CreateDirectory(dir);
            int first = parse.GetValue(seed);
            var written = new List<(string Stem, string Prompt)>();
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask($"{n} phantom(s), {parse.GetValue(slices)}×{parse.GetValue(size)}×{parse.GetValue(size)}", maxValue: n);
                    for (int i = 0; i < n; i++)
                    {
                        ct.ThrowIfCancellationRequested();
                        int caseSeed = first + i;
                        var kinds = findingText == "random" ? RandomKinds(caseSeed) : fixedKinds;
                        var spec = new PhantomSpec { Seed = caseSeed, Slices = parse.GetValue(slices), Size = parse.GetValue(size), FindingKinds = kinds, PlantPhi = parse.GetValue(phi) };
                        PhantomCase phantom;
                        try
                        {
                            phantom = await Task.Run(() => ChestPhantomGenerator.Generate(spec), ct);
                        }
                        catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(spec))
                        {
                            throw new CommandFailure(e.Message, e); // --slices or --size below the generator's minimum
                        }

                        string stem = $"case-{caseSeed:D4}";
                        await PhantomCaseWriter.WriteAsync(phantom, dir, stem, ct);
                        if (parse.GetValue(preview))
                        {
                            await VolumeMontage.SavePngAsync(phantom.Volume, Path.Combine(dir, stem + ".png"), CtWindow.Mediastinal, cancellationToken: ct);
                        }

                        await DicomSeries.WritePhantomAsync(phantom, dir, stem, ct);

                        written.Add((stem, phantom.Prompt));
                        task.Increment(1);
                    }
                });

            var table = new Table().AddColumn("case").AddColumn("prompt");
            foreach (var (stem, prompt) in written)
            {
                table.AddRow(Markup.Escape(stem), Markup.Escape(prompt));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"Wrote {written.Count} case(s) to [bold]{dir}[/]");
            return 0;
        });
        return cmd;
    }

    private static Command CreatePreview()
    {
        var cmd = new Command("preview", "Render a PNG montage (axial, coronal, sagittal mid-slices and an axial strip) of a NIfTI volume or DICOM series directory.");
        var input = new Argument<string>("input") { Description = "A .nii / .nii.gz file, or a directory holding one CT series." };
        var output = new Argument<FileInfo>("output") { Description = "The PNG to write." };
        var window = new Option<string>("--window") { Description = "lung [-1000,150], mediastinal [-125,225] or raw [-1000,1000].", DefaultValueFactory = _ => "mediastinal" };
        var strip = new Option<int>("--strip") { Description = "Axial slices in the bottom strip (0 for none).", DefaultValueFactory = _ => 8 };
        cmd.Arguments.Add(input);
        cmd.Arguments.Add(output);
        cmd.Options.Add(window);
        cmd.Options.Add(strip);
        cmd.SetAction(async (parse, ct) =>
        {
            CtWindow w;
            try
            {
                w = CtWindow.Parse(parse.GetValue(window)!);
            }
            catch (ArgumentException e)
            {
                throw new CommandFailure(e.Message, e);
            }

            string path = parse.GetValue(input)!;
            Volume volume;
            if (Directory.Exists(path))
            {
                volume = await DicomSeries.ReadVolumeAsync(path, ct);
            }
            else if (File.Exists(path))
            {
                var image = await NiftiFile.ReadAsync(path, ct);
                volume = image.Volume;
                if (image.Metadata.IsSynthetic)
                {
                    AnsiConsole.MarkupLine("[yellow]This volume is marked SYNTHETIC.[/]");
                }
            }
            else
            {
                throw new CommandFailure($"{path} does not exist");
            }

            var target = parse.GetValue(output)!.FullName;
            await VolumeMontage.SavePngAsync(volume, target, w, parse.GetValue(strip), cancellationToken: ct);
            AnsiConsole.MarkupLineInterpolated($"{volume.Depth}×{volume.Height}×{volume.Width} volume, {w.Name} window → [bold]{target}[/]");
            return 0;
        });
        return cmd;
    }

    /// <summary>Each finding independently with probability 0.3, from the case seed.</summary>
    private static IReadOnlyList<FindingKind> RandomKinds(int seed)
    {
        var rng = new Random(unchecked((seed * 7) + 1));
        return Enum.GetValues<FindingKind>().Where(_ => rng.NextDouble() < 0.3).ToList();
    }
}
