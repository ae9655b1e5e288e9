using GenerateCT.Model.Tests.Fixtures;
using GenerateCT.Model.Text;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

/// <summary>A Hugging Face-layout bundle written from the tiny fixtures, and the embedder over it.</summary>
public sealed class T5BundleTests : IDisposable
{
    // spm_tiny.model has 400 pieces; the tiny encoder fixture has a 128-row table, so the bundle's
    // table keeps the fixture's 128 rows and appends seeded rows for ids 128…399.
    private const int BundleVocab = 400;

    private readonly string _root = Directory.CreateTempSubdirectory("gct-t5-bundle-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string WriteBundle(string name, bool safetensors)
    {
        var dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), $$"""
            {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": {{BundleVocab}},
             "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4,
             "relative_attention_num_buckets": 32, "layer_norm_epsilon": 1e-06, "feed_forward_proj": "gated-gelu",
             "tie_word_embeddings": false, "pad_token_id": 0, "eos_token_id": 1}
            """);
        File.Copy(ReferenceFixture.PathOf("spm_tiny.model"), Path.Combine(dir, "spiece.model"));
        using var fixture = ReferenceFixture.Load("t5_encoder_tiny");
        using var model = new T5Encoder(T5Config.Tiny with { VocabSize = BundleVocab });
        var state = fixture.State();
        manual_seed(5);
        using var table = cat([state["shared.weight"], randn(BundleVocab - 128, 32)], 0);
        state["shared.weight"] = table;
        state.Remove("encoder.embed_tokens.weight");
        model.LoadHuggingFaceState(state, "fixture");
        if (safetensors)
        {
            model.save_safetensors(Path.Combine(dir, "model.safetensors"));
        }
        else
        {
            model.save_py(Path.Combine(dir, "pytorch_model.bin"));
        }

        return dir;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Bundle_loads_from_either_weights_format_and_reproduces_the_fixture(bool safetensors)
    {
        var dir = WriteBundle(safetensors ? "st" : "bin", safetensors);
        using var fixture = ReferenceFixture.Load("t5_encoder_tiny");

        var bundle = T5Bundle.Load(dir);
        using var encoder = bundle.Encoder;
        encoder.eval();
        using var noGrad = no_grad();
        using var hidden = encoder.forward(fixture["input.input_ids"], fixture["input.attention_mask"]);

        Assert.Equal(BundleVocab, bundle.Config.VocabSize);
        Assert.True(ReferenceFixture.MaxAbsDiff(hidden, fixture["out.last_hidden_state"]) <= 1e-4);
        Assert.Equal([56, 170, 1], bundle.Tokenizer.Encode("64"));
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData("spiece.model")]
    [InlineData("model.safetensors")]
    public void Bundle_missing_a_file_is_a_start_up_error_naming_it(string file)
    {
        var dir = WriteBundle("missing", safetensors: true);
        File.Delete(Path.Combine(dir, file));

        var e = Assert.Throws<TextEncoderBundleException>(() => T5Bundle.Load(dir));

        Assert.Contains(file, e.Message);
        Assert.Contains("incomplete", e.Message);
    }

    [Fact]
    public void Bundle_with_a_truncated_weights_file_is_a_clear_error()
    {
        var dir = WriteBundle("truncated", safetensors: false);
        var path = Path.Combine(dir, "pytorch_model.bin");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = Assert.ThrowsAny<Exception>(() => T5Bundle.Load(dir));

        Assert.IsType<TextEncoderBundleException>(e);
        Assert.Contains("pytorch_model.bin", e.Message);
    }

    [Fact]
    public void Embedder_pads_to_the_longest_prompt_with_exact_zeros_and_caches_repeats()
    {
        using var embedder = TextEmbedder.FromBundle(WriteBundle("embed", safetensors: true));
        string[] prompts = ["Cardiomegaly.", "64 years old female: Bilateral pleural effusion.", "Cardiomegaly."];
        var lengths = prompts.Select(p => embedder.Tokenizer.Encode(p).Count).ToArray();

        using var batch = embedder.Embed(prompts);
        Assert.Equal(2L, embedder.EncodedPrompts);
        using var alone = embedder.Embed(["Cardiomegaly."]);
        Assert.Equal(2L, embedder.EncodedPrompts);
        Assert.Equal(2, embedder.CachedPrompts);

        Assert.Equal(new long[] { 3, lengths.Max(), 32 }, batch.Embeddings.shape);
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(lengths[i], batch.Mask[i].sum().item<long>());
            Assert.True(batch.Mask[i, TensorIndex.Slice(0, lengths[i])].all().item<bool>());
            Assert.Equal(0f, batch.Embeddings[i, TensorIndex.Slice(lengths[i])].abs().sum().item<float>());
        }

        Assert.Equal(new long[] { 1, lengths[0], 32 }, alone.Embeddings.shape);
        Assert.True(T5EncoderTests.Same(alone.Embeddings[0], batch.Embeddings[0, TensorIndex.Slice(0, lengths[0])]));
        Assert.True(T5EncoderTests.Same(batch.Embeddings[0], batch.Embeddings[2]));
    }

    [Fact]
    public void Embedding_matches_an_uncached_encoder_run_of_the_same_prompt_in_another_batch()
    {
        var dir = WriteBundle("batch", safetensors: true);
        using var cached = TextEmbedder.FromBundle(dir);
        using var uncached = TextEmbedder.FromBundle(dir, cacheCapacity: 0);
        string[] prompts = ["No nodule in the right upper lobe.", "Cardiomegaly."];

        using var a = cached.Embed(prompts);
        using var b = uncached.Embed([prompts[1]]);

        Assert.Equal(0, uncached.CachedPrompts);
        var n = b.Embeddings.shape[1];
        Assert.True(ReferenceFixture.MaxAbsDiff(a.Embeddings[1, TensorIndex.Slice(0, n)], b.Embeddings[0]) <= 1e-5);
    }

    [Fact]
    public void Embedder_refuses_an_over_limit_prompt_when_asked_to()
    {
        using var embedder = TextEmbedder.FromBundle(WriteBundle("limit", safetensors: true));
        var text = string.Join(' ', Enumerable.Repeat("Bilateral pleural effusion.", 60));

        Assert.Throws<PromptTooLongException>(() => embedder.Embed([text], OverLengthPolicy.Refuse));
        using var truncated = embedder.Embed([text]);
        Assert.Equal(T5Tokenizer.DefaultMaxLength, truncated.Embeddings.shape[1]);
    }
}
