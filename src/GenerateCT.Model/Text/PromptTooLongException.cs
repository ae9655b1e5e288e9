namespace GenerateCT.Model.Text;

/// <summary>A prompt that tokenizes to more tokens than the text encoder accepts.</summary>
public sealed class PromptTooLongException(int tokens, int limit)
    : ModelException($"the prompt has {tokens} tokens (eos included) but the text encoder accepts at most {limit}; shorten the prompt")
{
    public int Tokens { get; } = tokens;

    public int Limit { get; } = limit;
}
