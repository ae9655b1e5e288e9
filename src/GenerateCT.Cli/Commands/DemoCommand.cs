using System.CommandLine;

namespace GenerateCT.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Start a node and a coordinator on the embedded database and show them working.");
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Where the demo keeps its state (default: ./.gct-demo)." };
        cmd.Options.Add(dataDir);
        cmd.SetAction(async (parse, ct) =>
        {
            await Task.Yield();
            Console.WriteLine(parse.GetValue(dataDir)?.FullName ?? "./.gct-demo");
            return 0;
        });
        return cmd;
    }
}
