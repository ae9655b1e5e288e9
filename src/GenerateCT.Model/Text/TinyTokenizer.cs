namespace GenerateCT.Model.Text;

/// <summary>
/// The SentencePiece model of the tiny configuration (400 pieces, T5's special ids; made for the parity
/// fixtures, see tests/fixtures/reference/README.md). No tiny T5 tokenizer was ever released, so the
/// library ships this one in its output folder (tokenizers/spm_tiny.model) beside the program.
/// </summary>
public static class TinyTokenizer
{
    /// <summary>Where the model lies beside the running program.</summary>
    public static string ModelPath => Path.Combine(AppContext.BaseDirectory, "tokenizers", "spm_tiny.model");

    /// <summary><see cref="ModelPath"/>, or an error saying that the installation is incomplete.</summary>
    public static string RequireModelPath() =>
        File.Exists(ModelPath)
            ? ModelPath
            : throw new FileNotFoundException($"the tiny tokenizer {ModelPath} is missing from this installation; rebuild gct or pass --tokenizer PATH", ModelPath);
}
