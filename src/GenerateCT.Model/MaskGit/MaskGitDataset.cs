using GenerateCT.Model.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>
/// Stage-2 training data: each volume's CT-ViT ids (encoded once, the CT-ViT is frozen) and its prompt.
/// Prompt embeddings come from the <see cref="TextEmbedder"/> (cached per distinct prompt).
/// </summary>
public sealed class MaskGitDataset : IDisposable
{
    private readonly Tensor _ids; // N t h w
    private readonly string[] _prompts;
    private readonly TextEmbedder? _text;

    private MaskGitDataset(Tensor ids, string[] prompts, TextEmbedder? text)
    {
        _ids = ids;
        _prompts = prompts;
        _text = text;
    }

    public int Count => _prompts.Length;

    public IReadOnlyList<string> Prompts => _prompts;

    /// <summary>
    /// Encodes volumes (each 1 × 1 × T × H × W in [−1, 1], already at the CT-ViT's size) with the frozen
    /// CT-ViT of <paramref name="model"/>, one at a time to bound memory.
    /// </summary>
    public static MaskGitDataset Encode(MaskGitTransformer model, IReadOnlyList<Tensor> volumes, IReadOnlyList<string> prompts, TextEmbedder? text, Device device)
    {
        if (volumes.Count != prompts.Count || volumes.Count == 0)
        {
            throw new ArgumentException($"{volumes.Count} volumes and {prompts.Count} prompts: every volume needs exactly one prompt", nameof(prompts));
        }

        if (text is not null && text.EmbeddingDim != model.MaskGit.Config.DimContext)
        {
            throw new ArgumentException($"the text encoder gives {text.EmbeddingDim}-wide embeddings but MaskGit '{model.MaskGit.Config.Name}' expects {model.MaskGit.Config.DimContext}", nameof(text));
        }

        var ids = new List<Tensor>(volumes.Count);
        try
        {
            foreach (var volume in volumes)
            {
                using var onDevice = volume.to(device);
                ids.Add(model.EncodeToIds(onDevice)); // 1 t h w
            }

            return new MaskGitDataset(cat(ids, 0), [.. prompts], text);
        }
        finally
        {
            ids.ForEach(t => t.Dispose());
        }
    }

    /// <summary>The micro-batch of the given samples (ids, prompt embeddings and mask).</summary>
    public MaskGitBatch Batch(IReadOnlyList<int> indices)
    {
        using var index = tensor(indices.Select(i => (long)i).ToArray(), device: _ids.device);
        var ids = _ids.index_select(0, index);
        if (_text is null)
        {
            return new MaskGitBatch(ids, null, null);
        }

        var embedding = _text.Embed([.. indices.Select(i => _prompts[i])]);
        return new MaskGitBatch(ids, embedding.Embeddings.to(_ids.device), embedding.Mask.to(_ids.device));
    }

    public void Dispose() => _ids.Dispose();
}
