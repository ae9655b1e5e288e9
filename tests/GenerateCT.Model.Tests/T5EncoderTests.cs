using System.Text.Json;
using GenerateCT.Model.Tests.Fixtures;
using GenerateCT.Model.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class T5EncoderTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    /// <summary>Same shape and every element equal (−0 equals 0).</summary>
    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    internal static List<(string Key, long[] Shape)> PaperEntries(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(ReferenceFixture.PathOf(file)));
        return doc.RootElement.GetProperty("entries").EnumerateArray()
            .Select(e => (e[0].GetString()!, e[1].EnumerateArray().Select(x => x.GetInt64()).ToArray()))
            .ToList();
    }

    [Fact]
    public void Base_config_state_dict_matches_the_HF_T5EncoderModel_key_for_key()
    {
        var expected = PaperEntries("t5_encoder_paper_keys.json");
        using var model = new T5Encoder(T5Config.Named("t5-v1_1-base"));

        var actual = model.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToList();

        Assert.Equal(expected.Select(e => e.Key), actual.Select(a => a.Key));
        foreach (var ((key, shape), (_, ours)) in expected.Zip(actual))
        {
            Assert.True(shape.SequenceEqual(ours), $"{key}: expected [{string.Join(',', shape)}], got [{string.Join(',', ours)}]");
        }

        // shared and encoder.embed_tokens are one table: the parameter count counts it once.
        Assert.Equal(109_628_544L, model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Tiny_encoder_matches_every_tensor_of_the_HF_fixture()
    {
        using var fixture = ReferenceFixture.Load("t5_encoder_tiny");
        using var scope = NewDisposeScope();
        using var model = new T5Encoder(T5Config.Tiny);
        model.LoadHuggingFaceState(fixture.State(), "t5_encoder_tiny.pt");
        model.eval();
        using var noGrad = no_grad();

        var ids = fixture["input.input_ids"];
        var mask = fixture["input.attention_mask"];
        var trace = model.Trace(ids, mask);
        var buckets = T5Attention.RelativePositionBucket(arange(12L).unsqueeze(0) - arange(12L).unsqueeze(1), 32, 128);
        var table = T5Attention.RelativePositionBucket(arange(-160L, 161L), 32, 128);
        var embedded = TextEmbedder.MaskPadding(trace.LastHiddenState, mask);

        Assert.True(Same(buckets, fixture["out.relative_position_bucket"]), "bucket(k − q) differs");
        Assert.True(Same(table, fixture["out.relative_position_bucket_table"]), "bucket table −160…160 differs");
        var errors = new (string Key, Tensor Actual)[]
        {
            ("out.embeddings", trace.Embeddings),
            ("out.position_bias", trace.PositionBias),
            ("out.layer0_output", trace.Layer0Output),
            ("out.final_layer_norm_input", trace.FinalLayerNormInput),
            ("out.last_hidden_state", trace.LastHiddenState),
            ("out.masked_embeds", embedded.Embeddings),
        }.Select(p => (p.Key, Error: ReferenceFixture.MaxAbsDiff(p.Actual, fixture[p.Key]))).ToList();
        foreach (var (key, error) in errors)
        {
            output.WriteLine($"{key}: max |Δ| = {error:E2}");
        }

        Assert.True(Same(trace.ExtendedAttentionMask, fixture["out.extended_attention_mask"]), "additive mask differs");
        Assert.True(Same(embedded.Mask, fixture["out.text_mask"]), "recovered text mask differs");
        Assert.All(errors, e => Assert.True(e.Error <= Tolerance, $"{e.Key}: {e.Error:E2} > {Tolerance:E0}"));
        // Padded positions are exactly zero after masking (GenerateCT t5.py masked_fill).
        Assert.Equal(0f, embedded.Embeddings[1, TensorIndex.Slice(8)].abs().max().item<float>());
    }

    [Fact]
    public void Either_alias_of_the_tied_embedding_loads_the_same_table()
    {
        using var fixture = ReferenceFixture.Load("t5_encoder_tiny");
        var state = fixture.State();
        var onlyEmbedTokens = state.Where(kv => kv.Key != "shared.weight").ToDictionary();
        var onlyShared = state.Where(kv => kv.Key != "encoder.embed_tokens.weight").ToDictionary();
        using var a = new T5Encoder(T5Config.Tiny);
        using var b = new T5Encoder(T5Config.Tiny);

        a.LoadHuggingFaceState(onlyEmbedTokens, "encoder-only");
        b.LoadHuggingFaceState(onlyShared, "shared-only");

        Assert.True(Same(a.state_dict()["shared.weight"], state["shared.weight"]));
        Assert.True(Same(b.state_dict()["encoder.embed_tokens.weight"], state["shared.weight"]));
        var missing = state.Where(kv => !kv.Key.EndsWith("wi_1.weight", StringComparison.Ordinal)).ToDictionary();
        var e = Assert.Throws<InvalidDataException>(() => a.LoadHuggingFaceState(missing, "partial.bin"));
        Assert.Contains("wi_1", e.Message);
    }
}
