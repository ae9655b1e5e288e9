using System.CommandLine;
using System.CommandLine.Invocation;
using GenerateCT.Data;
using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Network;
using GenerateCT.Hosting;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Model;

namespace GenerateCT.Cli;

/// <summary>
/// An expected failure a command reports itself (bad input it checked, a refused request).
/// Throw it with a message that says what went wrong and, where it helps, what to do instead.
/// </summary>
/// <remarks>
/// gct's exit codes: 0 done; 1 for a command's own "not found"/"not ok" answers where it documents
/// one; <see cref="ExitCode"/> (2) for an expected failure, written as the one line
/// <c>gct: message</c> on stderr. Expected failures are this type and the library exceptions listed
/// in <see cref="IsExpected"/>: unreadable or unsupported input files, configuration, the database,
/// the network. Anything else is a bug and still surfaces as an unhandled exception with its stack.
/// </remarks>
internal sealed class CommandFailure(string message, Exception? inner = null) : Exception(message, inner)
{
    public const int ExitCode = 2;

    /// <summary>Whether <paramref name="e"/> is a failure the user can act on from its message alone.</summary>
    public static bool IsExpected(Exception e) => e is CommandFailure
        // Input files and directories the user named.
        or IOException // FileNotFound, DirectoryNotFound, ...
        or UnauthorizedAccessException
        or InvalidDataException
        or DicomParseException
        or DicomNotSupportedException
        or NiftiFormatException
        // Models, prompts and bundles.
        or ModelException // checkpoints, bundles, prompts, tokenizers
        // De-identification: refused instances and reports, keys.
        or DeidentificationRefusedException
        or SiteSecretException
        or PseudonymTableException
        or Hl7ParseException
        or MllpFramingException
        // Hosts: configuration, the database, the network.
        or ConfigurationException
        or PostgresClusterException
        or Npgsql.NpgsqlException
        or DicomNetworkException;

    /// <summary>The message as one line: a multi-line message (a server log excerpt) is joined.</summary>
    public static string OneLine(Exception e) =>
        "gct: " + string.Join(" ", e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>
    /// Wraps the action of <paramref name="command"/> and of every subcommand below it so that an
    /// expected failure ends the command as one line on stderr and exit code 2.
    /// </summary>
    public static void Apply(Command command)
    {
        command.Action = command.Action switch
        {
            AsynchronousCommandLineAction action and not ExpectedFailureAsyncAction => new ExpectedFailureAsyncAction(action),
            SynchronousCommandLineAction action and not ExpectedFailureAction => new ExpectedFailureAction(action),
            var action => action,
        };
        foreach (var sub in command.Subcommands)
        {
            Apply(sub);
        }
    }

    private sealed class ExpectedFailureAsyncAction(AsynchronousCommandLineAction inner) : AsynchronousCommandLineAction
    {
        public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.InvokeAsync(parseResult, cancellationToken);
            }
            catch (Exception e) when (IsExpected(e))
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync(OneLine(e));
                return ExitCode;
            }
        }
    }

    private sealed class ExpectedFailureAction(SynchronousCommandLineAction inner) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            try
            {
                return inner.Invoke(parseResult);
            }
            catch (Exception e) when (IsExpected(e))
            {
                parseResult.InvocationConfiguration.Error.WriteLine(OneLine(e));
                return ExitCode;
            }
        }
    }
}
