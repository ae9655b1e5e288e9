using System.CommandLine;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using Spectre.Console;

namespace GenerateCT.Cli.Models;

/// <summary>
/// `gct model import-released` and `gct model verify`: model bundles. <see cref="AddTo"/> hangs both
/// verbs on the `gct model` group.
/// </summary>
internal static class BundleCommands
{
    public static void AddTo(Command modelGroup)
    {
        modelGroup.Subcommands.Add(ImportReleased());
        modelGroup.Subcommands.Add(Verify());
    }

    private static Command ImportReleased()
    {
        var cmd = new Command("import-released", "Turn the published GenerateCT checkpoints into a model bundle (key report printed).");
        var ctvit = new Option<FileInfo>("--ctvit") { Description = "ctvit_pretrained.pt", Required = true };
        var transformer = new Option<FileInfo>("--transformer") { Description = "transformer_pretrained.pt (ctvit.* + maskgit.*)", Required = true };
        var superres = new Option<FileInfo>("--superres") { Description = "superres_pretrained.pt ({model: unets.0/unets.1})", Required = true };
        var t5 = new Option<DirectoryInfo>("--t5") { Description = "Hugging Face google/t5-v1_1-base directory (config.json, spiece.model, model.safetensors or pytorch_model.bin)", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Bundle directory to write.", Required = true };
        var config = new Option<string>("--config") { Description = "Pipeline config of the checkpoints (paper = the published ones).", DefaultValueFactory = _ => "paper" };
        foreach (var o in new Option[] { ctvit, transformer, superres, t5, output, config })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(parse =>
        {
            try
            {
                var (manifest, reports) = ReleasedImport.Import(
                    GenerationConfig.Named(parse.GetValue(config)!),
                    parse.GetValue(ctvit)!.FullName,
                    parse.GetValue(transformer)!.FullName,
                    parse.GetValue(superres)!.FullName,
                    parse.GetValue(t5)!.FullName,
                    parse.GetValue(output)!.FullName);
                var table = new Table().AddColumns("stage", "file", "keys");
                foreach (var r in reports)
                {
                    table.AddRow(r.Stage, Markup.Escape(Path.GetFileName(r.File)), Markup.Escape(r.Keys.ToString()));
                }

                AnsiConsole.Write(table);
                PrintManifest(manifest, parse.GetValue(output)!.FullName);
                return 0;
            }
            catch (Exception e) when (e is ModelException or ArgumentException)
            {
                throw new CommandFailure(e.Message, e);
            }
        });
        return cmd;
    }

    private static Command Verify()
    {
        var cmd = new Command("verify", "Check a bundle's hashes and load every stage strictly by key.");
        var bundle = new Argument<DirectoryInfo>("bundle") { Description = "Bundle directory." };
        cmd.Arguments.Add(bundle);
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(bundle)!.FullName;
            var checks = ModelBundle.Verify(dir);
            var table = new Table().AddColumns("stage", "config", "file", "sha256", "keys");
            foreach (var c in checks)
            {
                table.AddRow(c.Component.Stage, c.Component.Config, Markup.Escape(c.Component.File), c.Component.Sha256[..16] + "…", Markup.Escape(c.Keys));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"[green]bundle {dir} is intact[/]: hashes match and every stage loads by key");
            return 0;
        });
        return cmd;
    }

    internal static void PrintManifest(BundleManifest manifest, string directory)
    {
        var table = new Table().AddColumns("stage", "config", "file", "sha256", "source");
        foreach (var c in manifest.Components)
        {
            table.AddRow(c.Stage, c.Config, Markup.Escape(c.File), c.Sha256[..16] + "…", Markup.Escape(c.Source ?? string.Empty));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"bundle written to {directory}");
    }
}
