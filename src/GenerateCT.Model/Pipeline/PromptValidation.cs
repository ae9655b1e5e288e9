using System.Globalization;
using System.Text;
using GenerateCT.Model.Text;

namespace GenerateCT.Model.Pipeline;

/// <summary>Why a prompt was refused.</summary>
public enum PromptProblem
{
    Empty,
    TooLong,
    NotText,
}

/// <summary>
/// Checks prompts before any model runs: non-empty, text only (no control characters other than
/// tab/newline, no lone surrogates, no U+FFFD / non-characters that betray a decoding error), and at
/// most the tokenizer's limit (GenerateCT t5.py: 256 tokens, eos included) — the released code would
/// silently truncate; a researcher should know instead.
/// </summary>
public static class PromptValidation
{
    public static void Validate(IReadOnlyList<string> prompts, T5Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0)
        {
            throw new InvalidPromptException(PromptProblem.Empty, 0, "no prompt was given; pass at least one, e.g. \"64 years old female: Cardiomegaly.\"");
        }

        for (var i = 0; i < prompts.Count; i++)
        {
            Validate(prompts[i], i, tokenizer);
        }
    }

    private static void Validate(string? prompt, int index, T5Tokenizer tokenizer)
    {
        var label = $"prompt {index + 1}";
        if (string.IsNullOrWhiteSpace(prompt))
        {
            throw new InvalidPromptException(PromptProblem.Empty, index, $"{label} is empty; describe the CT, e.g. \"64 years old female: Cardiomegaly.\"");
        }

        for (var p = 0; p < prompt.Length; p++)
        {
            var c = prompt[p];
            if (char.IsHighSurrogate(c) && p + 1 < prompt.Length && char.IsLowSurrogate(prompt[p + 1]))
            {
                p++;
                continue;
            }

            var category = CharUnicodeInfo.GetUnicodeCategory(c);
            var bad = category switch
            {
                UnicodeCategory.Control => c is not ('\t' or '\n' or '\r'),
                UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned => true,
                UnicodeCategory.Format => c is not ('\u200d' or '\u200c'),
                _ => c is '\uFFFD' or '\uFFFE' or '\uFFFF',
            };
            if (bad)
            {
                throw new InvalidPromptException(
                    PromptProblem.NotText,
                    index,
                    $"{label} contains a non-text character U+{(int)c:X4} ({category}) at position {p}; send plain UTF-8 text without control characters");
            }
        }

        var tokens = tokenizer.CountTokens(prompt.Normalize(NormalizationForm.FormC));
        if (tokens > tokenizer.MaxLength)
        {
            throw new InvalidPromptException(
                PromptProblem.TooLong,
                index,
                $"{label} is too long: {tokens} tokens (eos included) but the text encoder accepts at most {tokenizer.MaxLength}; shorten it (the released model would silently cut it)");
        }
    }
}
