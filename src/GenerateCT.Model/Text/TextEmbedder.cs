using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Text;

/// <summary>
/// Prompt embeddings as GenerateCT feeds them to MaskGIT and the SR Unet (`t5.py`): T5
/// last_hidden_state for tokens padded to the longest prompt of the batch, padded positions set to
/// exactly 0. <see cref="Mask"/> is recovered the way `MaskGITTransformer` does it: any feature ≠ 0.
/// </summary>
public sealed class TextEmbedding(Tensor embeddings, Tensor mask) : IDisposable
{
    /// <summary>b n d, float32.</summary>
    public Tensor Embeddings { get; } = embeddings;

    /// <summary>b n, bool.</summary>
    public Tensor Mask { get; } = mask;

    public void Dispose()
    {
        Embeddings.Dispose();
        Mask.Dispose();
    }
}

/// <summary>
/// Frozen text encoder + tokenizer with a bounded cache: cohorts repeat the same prompt many times and
/// training revisits the same reports every epoch, so each distinct prompt is encoded once.
/// Thread-safe; the encoder runs in eval mode without gradients.
/// </summary>
public sealed class TextEmbedder : IDisposable
{
    private readonly T5Encoder _encoder;
    private readonly Device _device;
    private readonly int _capacity;
    private readonly Dictionary<string, LinkedListNode<(string Prompt, Tensor Embedding)>> _cache = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Prompt, Tensor Embedding)> _recency = new();
    private readonly Lock _gate = new();

    public TextEmbedder(T5Encoder encoder, T5Tokenizer tokenizer, Device? device = null, int cacheCapacity = 256)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cacheCapacity);
        _device = device ?? CPU;
        _encoder = encoder;
        _encoder.to(_device);
        _encoder.eval();
        foreach (var p in _encoder.parameters())
        {
            p.requires_grad = false;
        }

        Tokenizer = tokenizer;
        _capacity = cacheCapacity;
    }

    public T5Tokenizer Tokenizer { get; }

    public int EmbeddingDim => _encoder.Config.DModel;

    /// <summary>Prompts whose embedding is cached now.</summary>
    public int CachedPrompts
    {
        get
        {
            lock (_gate)
            {
                return _cache.Count;
            }
        }
    }

    /// <summary>Prompts encoded by the T5 encoder so far (cache misses).</summary>
    public long EncodedPrompts { get; private set; }

    /// <summary>Loads a Hugging Face bundle directory (see <see cref="T5Bundle"/>).</summary>
    public static TextEmbedder FromBundle(string directory, Device? device = null, int cacheCapacity = 256)
    {
        var bundle = T5Bundle.Load(directory);
        return new TextEmbedder(bundle.Encoder, bundle.Tokenizer, device, cacheCapacity);
    }

    /// <summary>
    /// Embeds a batch: b × (longest prompt's tokens) × d with zeros after each prompt's eos.
    /// With <see cref="OverLengthPolicy.Refuse"/> an over-long prompt throws <see cref="PromptTooLongException"/>.
    /// </summary>
    public TextEmbedding Embed(IReadOnlyList<string> prompts, OverLengthPolicy overLength = OverLengthPolicy.Truncate)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0)
        {
            throw new ArgumentException("at least one prompt is needed", nameof(prompts));
        }

        var ids = prompts.Select(p => Tokenizer.Encode(p, overLength)).ToList();
        lock (_gate)
        {
            using var scope = NewDisposeScope();
            var rows = new Tensor[prompts.Count];
            var evicted = new List<Tensor>();
            var missing = new List<int>();
            for (var i = 0; i < prompts.Count; i++)
            {
                if (_cache.TryGetValue(prompts[i], out var node))
                {
                    _recency.Remove(node);
                    _recency.AddFirst(node);
                    rows[i] = node.Value.Embedding;
                }
                else
                {
                    missing.Add(i);
                }
            }

            // Distinct uncached prompts go through the encoder together.
            var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var i in missing)
            {
                firstIndex.TryAdd(prompts[i], i);
            }

            if (firstIndex.Count > 0)
            {
                var distinct = firstIndex.Keys.ToList();
                var fresh = EncodeUncached(distinct, distinct.Select(p => ids[firstIndex[p]]).ToList(), evicted);
                foreach (var i in missing)
                {
                    rows[i] = fresh[prompts[i]];
                }
            }

            var longest = ids.Max(x => x.Count);
            var output = zeros([prompts.Count, longest, EmbeddingDim], dtype: float32, device: _device); // b n d
            for (var i = 0; i < rows.Length; i++)
            {
                output[i, TensorIndex.Slice(0, rows[i].shape[0])].copy_(rows[i]);
            }

            var mask = output.ne(0).any(-1); // b n
            evicted.ForEach(t => t.Dispose());
            output.MoveToOuterDisposeScope();
            mask.MoveToOuterDisposeScope();
            return new TextEmbedding(output, mask);
        }
    }

    /// <summary>GenerateCT's masking of the encoder output: padded positions → 0, mask = any feature ≠ 0.</summary>
    internal static TextEmbedding MaskPadding(Tensor lastHiddenState, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var keep = attentionMask.to(@bool).unsqueeze(-1); // b n 1
        var masked = lastHiddenState.masked_fill(keep.logical_not(), 0f);
        var mask = masked.ne(0).any(-1);
        return new TextEmbedding(masked.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>Encodes prompts; cached rows leave the caller's dispose scope, evicted ones go to <paramref name="evicted"/>.</summary>
    private Dictionary<string, Tensor> EncodeUncached(List<string> prompts, List<IReadOnlyList<int>> ids, List<Tensor> evicted)
    {
        using var noGrad = no_grad();
        var longest = ids.Max(x => x.Count);
        var flatIds = new long[prompts.Count * longest];
        var flatMask = new long[prompts.Count * longest];
        for (var i = 0; i < ids.Count; i++)
        {
            for (var j = 0; j < ids[i].Count; j++)
            {
                flatIds[(i * longest) + j] = ids[i][j];
                flatMask[(i * longest) + j] = 1;
            }
        }

        using var idTensor = tensor(flatIds, [prompts.Count, longest], device: _device);
        using var maskTensor = tensor(flatMask, [prompts.Count, longest], device: _device);
        using var hidden = _encoder.forward(idTensor, maskTensor); // b n d
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (var i = 0; i < prompts.Count; i++)
        {
            var row = hidden[i, TensorIndex.Slice(0, ids[i].Count)].clone(); // n_i d
            result[prompts[i]] = row;
            EncodedPrompts++;
            if (_capacity == 0)
            {
                continue;
            }

            _cache[prompts[i]] = _recency.AddFirst((prompts[i], row.DetachFromDisposeScope()));
            while (_cache.Count > _capacity)
            {
                var last = _recency.Last!;
                _recency.RemoveLast();
                _cache.Remove(last.Value.Prompt);
                evicted.Add(last.Value.Embedding);
            }
        }

        return result;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var (_, t) in _recency)
            {
                t.Dispose();
            }

            _recency.Clear();
            _cache.Clear();
        }

        _encoder.Dispose();
    }
}
