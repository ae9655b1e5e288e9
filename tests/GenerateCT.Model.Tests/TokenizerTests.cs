using System.Text.Json;
using GenerateCT.Model.Tests.Fixtures;
using GenerateCT.Model.Text;

namespace GenerateCT.Model.Tests;

public class TokenizerTests
{
    private static T5Tokenizer TinyTokenizer(int maxLength = T5Tokenizer.DefaultMaxLength) =>
        T5Tokenizer.FromFile(ReferenceFixture.PathOf("spm_tiny.model"), maxLength);

    [Fact]
    public void Every_fixture_prompt_gives_the_SentencePiece_ids_with_eos_appended()
    {
        var tokenizer = TinyTokenizer();
        using var fixture = JsonDocument.Parse(File.ReadAllText(ReferenceFixture.PathOf("spm_tiny_fixture.json")));
        var prompts = fixture.RootElement.GetProperty("prompts").EnumerateArray().ToList();
        Assert.Equal(20, prompts.Count);
        var sawEmpty = false;
        foreach (var prompt in prompts)
        {
            var text = prompt.GetProperty("text").GetString()!;
            var expected = prompt.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.True(expected.SequenceEqual(tokenizer.Encode(text)), $"ids differ for prompt \"{text}\"");
            sawEmpty |= text.Length == 0;
        }

        Assert.True(sawEmpty);
        Assert.Equal([T5Tokenizer.EosId], tokenizer.Encode(""));
    }

    [Fact]
    public void Long_prompt_is_truncated_to_the_limit_keeping_eos()
    {
        var tokenizer = TinyTokenizer();
        var text = string.Join(' ', Enumerable.Repeat("Bilateral pleural effusion.", 60));
        var full = TinyTokenizer(maxLength: 100_000).Encode(text);
        Assert.True(full.Count > T5Tokenizer.DefaultMaxLength);

        var ids = tokenizer.Encode(text);

        Assert.Equal(T5Tokenizer.DefaultMaxLength, ids.Count);
        Assert.Equal(T5Tokenizer.EosId, ids[^1]);
        Assert.Equal(full.Take(T5Tokenizer.DefaultMaxLength - 1), ids.Take(T5Tokenizer.DefaultMaxLength - 1));
        Assert.Equal(full.Count, tokenizer.CountTokens(text));
    }

    [Fact]
    public void Over_limit_prompt_is_refused_with_the_token_count_when_asked_to_refuse()
    {
        var tokenizer = TinyTokenizer(maxLength: 8);
        Assert.Equal(8, tokenizer.Encode("64 years old female: Bilateral pleural effusion.").Count);

        var e = Assert.Throws<PromptTooLongException>(() =>
            tokenizer.Encode("64 years old female: Bilateral pleural effusion.", OverLengthPolicy.Refuse));

        Assert.Equal(21, e.Tokens);
        Assert.Equal(8, e.Limit);
        Assert.Contains("at most 8", e.Message);
        var shortIds = tokenizer.Encode("Cardiomegaly.", OverLengthPolicy.Refuse);
        Assert.InRange(shortIds.Count, 2, 8);
        Assert.Equal(T5Tokenizer.EosId, shortIds[^1]);
    }

    [Fact]
    public void Missing_or_corrupt_model_file_is_a_clear_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "spiece.model");
        var e = Assert.Throws<FileNotFoundException>(() => T5Tokenizer.FromFile(missing));
        Assert.Contains("spiece.model", e.Message);

        var bytes = File.ReadAllBytes(ReferenceFixture.PathOf("spm_tiny.model"));
        Assert.Throws<InvalidDataException>(() => T5Tokenizer.FromBytes(bytes[..1000]));
    }
}
