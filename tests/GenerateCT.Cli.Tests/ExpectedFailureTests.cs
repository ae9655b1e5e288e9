using System.CommandLine;
using GenerateCT.Testing;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Cli.Tests;

/// <summary>
/// Expected failures (input gct cannot read, a data directory the database cannot use) end as one
/// line <c>gct: …</c> and exit code 2, never as an unhandled exception with a stack trace.
/// </summary>
public sealed class ExpectedFailureTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private readonly string _dir = Scratch.NewDirectory("gct-fail");

    public void Dispose()
    {
        foreach (var d in Directory.EnumerateDirectories(_dir))
        {
            File.SetUnixFileMode(d, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Convert_of_a_JPEG_LS_series_says_it_cannot_decode_it_in_one_line_with_exit_code_2()
    {
        var series = await PhantomSeriesAsync();
        var jls = Directory.CreateDirectory(Path.Combine(_dir, "jpeg-ls")).FullName;
        foreach (var file in Directory.GetFiles(series))
        {
            var encoded = await DcmtkTool.RunAsync("dcmcjpls", [file, Path.Combine(jls, Path.GetFileName(file))]);
            Assert.True(encoded.ExitCode == 0, encoded.Output);
        }

        var convert = await Gct.RunAsync(Timeout, "convert", jls, Path.Combine(_dir, "out.nii.gz"));

        AssertOneLineFailure(convert, "JPEG-LS");
        Assert.False(File.Exists(Path.Combine(_dir, "out.nii.gz")));
    }

    [Fact]
    public async Task Deid_of_an_Explicit_VR_Big_Endian_file_fails_in_one_line_with_exit_code_2()
    {
        var series = await PhantomSeriesAsync();
        var input = Directory.CreateDirectory(Path.Combine(_dir, "big-endian")).FullName;
        var converted = await DcmtkTool.RunAsync("dcmconv", ["+tb", Directory.GetFiles(series)[0], Path.Combine(input, "be.dcm")]);
        Assert.True(converted.ExitCode == 0, converted.Output);

        var deid = await Gct.RunAsync(Timeout, "deid", "--in", input, "--out", Path.Combine(_dir, "deid-out"), "--site-secret", Path.Combine(_dir, "site.secret"));

        AssertOneLineFailure(deid, "Big Endian");
    }

    [Fact]
    public async Task Node_with_a_data_directory_the_database_cannot_enter_fails_in_one_line_with_exit_code_2()
    {
        // As root the embedded PostgreSQL runs as the 'postgres' user, who cannot enter a 0700 root
        // directory; as any other user the server runs as that user, so the parent is closed to it too.
        var closed = Directory.CreateDirectory(Path.Combine(_dir, "closed")).FullName;
        File.SetUnixFileMode(closed, Environment.IsPrivilegedProcess ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : UnixFileMode.None);

        var node = await Gct.RunAsync(Timeout, "node", "--data-dir", Path.Combine(closed, "data"), "--grpc-port", "0", "--dicom-port", "0");

        AssertOneLineFailure(node, closed);
    }

    [Fact]
    public async Task An_expected_failure_inside_a_command_is_one_line_on_stderr_and_exit_code_2()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var missing = Path.Combine(_dir, "no-such-file.dcm");

        var code = await Program.BuildRoot().Parse(["dicom", "dump", missing]).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });

        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output.ToString());
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("gct: ", line, StringComparison.Ordinal);
        Assert.Contains(missing, line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_multi_line_message_is_reported_on_one_line()
    {
        var line = CommandFailure.OneLine(new CommandFailure("initdb exited with 1\nserver log:\nFATAL: could not open\n"));

        Assert.Equal("gct: initdb exited with 1 server log: FATAL: could not open", line);
    }

    [Fact]
    public void A_bug_is_not_an_expected_failure()
    {
        Assert.False(CommandFailure.IsExpected(new NullReferenceException()));
        Assert.False(CommandFailure.IsExpected(new InvalidOperationException("bug")));
        Assert.True(CommandFailure.IsExpected(new FileNotFoundException("missing")));
        Assert.True(CommandFailure.IsExpected(new CommandFailure("bad option")));
    }

    /// <summary>A CT series written by `gct phantom` (its {stem}-dicom/ folder).</summary>
    private async Task<string> PhantomSeriesAsync()
    {
        var phantoms = Path.Combine(_dir, "phantoms");
        var phantom = await Gct.RunAsync(Timeout, "phantom", "--count", "1", "--slices", "9", "--size", "32", "--out", phantoms);
        Assert.True(phantom.ExitCode == 0, phantom.Output);
        return Path.Combine(phantoms, "case-0000-dicom");
    }

    private static void AssertOneLineFailure(Gct.Result result, string expected)
    {
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}:\n{result.Output}");
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("gct: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", line, StringComparison.Ordinal);
    }
}
