using GenerateCT.Cli;

namespace GenerateCT.Cli.Tests;

public class CommandLineTests
{
    [Theory]
    [InlineData("demo")]
    [InlineData("node")]
    [InlineData("coordinator")]
    [InlineData("bench")]
    [InlineData("audit")]
    [InlineData("dicom")]
    [InlineData("deid")]
    [InlineData("phantom")]
    [InlineData("preview")]
    [InlineData("convert")]
    [InlineData("train")]
    [InlineData("model")]
    [InlineData("generate")]
    [InlineData("cohort")]
    public void Gct_has_the_verb(string verb)
    {
        var root = Program.BuildRoot();
        Assert.Contains(root.Subcommands, c => c.Name == verb);
    }

    [Fact]
    public async Task An_unknown_verb_fails_with_a_non_zero_exit_code()
    {
        var output = new StringWriter();
        var root = Program.BuildRoot();
        var parse = root.Parse(["no-such-verb"]);
        Assert.NotEmpty(parse.Errors);
        var code = await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = output });
        Assert.NotEqual(0, code);
    }
}
