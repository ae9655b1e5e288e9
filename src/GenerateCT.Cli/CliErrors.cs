using GenerateCT.Imaging.Nifti;
using GenerateCT.Model;

namespace GenerateCT.Cli;

/// <summary>
/// The model and benchmark verbs' wider net of expected failures: besides the types
/// <see cref="CommandFailure.IsExpected"/> knows, option and configuration checks deep in the model
/// code (unknown config or stage names, an unsupported device) throw argument, operation and
/// not-supported exceptions. They end the command as a <see cref="CommandFailure"/>: one line, exit 2.
/// </summary>
internal static class CliErrors
{
    public static Task<int> Run(Func<int> action) => RunAsync(() => Task.FromResult(action()));

    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is ModelException or NiftiFormatException or FileNotFoundException
            or DirectoryNotFoundException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new CommandFailure(e.Message, e);
        }
    }
}
