using GenerateCT.Model.Text;
using GenerateCT.Testing;

namespace GenerateCT.Model.Tests;

public sealed class TinyTokenizerTests
{
    [Fact]
    public void The_tiny_tokenizer_ships_beside_the_program_and_is_the_fixture_model()
    {
        Assert.True(File.Exists(TinyTokenizer.RequireModelPath()), TinyTokenizer.ModelPath);
        Assert.Equal(File.ReadAllBytes(ReferenceFixtures.PathOf("spm_tiny.model")), File.ReadAllBytes(TinyTokenizer.ModelPath));
        Assert.StartsWith(AppContext.BaseDirectory, TinyTokenizer.ModelPath, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_reference_fixture_is_an_error_naming_the_file()
    {
        var e = Assert.Throws<FileNotFoundException>(() => ReferenceFixtures.PathOf("no_such_fixture.pt"));
        Assert.Contains("no_such_fixture.pt", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(Path.Combine("tests", "fixtures", "reference"), ReferenceFixtures.Directory, StringComparison.Ordinal);
    }
}
