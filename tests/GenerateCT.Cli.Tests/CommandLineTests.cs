using GenerateCT.Cli;

namespace GenerateCT.Cli.Tests;

public class CommandLineTests
{
    [Theory]
    [InlineData("demo")]
    [InlineData("node")]
    [InlineData("coordinator")]
    [InlineData("pki")]
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

    [Theory]
    [InlineData("--help")]
    [InlineData("coordinator", "--help")]
    [InlineData("node", "--help")]
    public async Task Help_does_not_claim_training_that_the_hosts_do_not_do(params string[] args)
    {
        var output = new StringWriter();
        var code = await Program.BuildRoot().Parse(args).InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = output, Error = output });

        Assert.Equal(0, code);
        var help = output.ToString();
        Assert.NotEmpty(help);
        Assert.DoesNotContain("runs training rounds", help, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("aggregates weight updates", help, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("local training", help, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Every_verb_at_every_level_has_a_description()
    {
        var missing = new List<string>();
        Walk(Program.BuildRoot(), "gct");
        Assert.Empty(missing);

        void Walk(System.CommandLine.Command command, string path)
        {
            if (string.IsNullOrWhiteSpace(command.Description))
            {
                missing.Add(path);
            }

            foreach (var sub in command.Subcommands)
            {
                Walk(sub, path + " " + sub.Name);
            }
        }
    }
}
