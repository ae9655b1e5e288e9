using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Tests.Fixtures;
using Xunit.Abstractions;
using static TorchSharp.torch;
using MaskGitModel = GenerateCT.Model.MaskGit.MaskGit;

namespace GenerateCT.Model.Tests;

public class MaskGitTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    internal static MaskGitModel LoadTiny(ReferenceFixture fixture)
    {
        var model = new MaskGitModel(MaskGitConfig.Tiny);
        var (missing, unexpected) = model.load_state_dict(fixture.State(), strict: true);
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        model.eval();
        return model;
    }

    [Fact]
    public void Paper_config_state_dict_matches_the_released_MaskGit_key_for_key()
    {
        var expected = T5EncoderTests.PaperEntries("maskgit_paper_keys.json");
        using var model = new MaskGitModel(MaskGitConfig.Named("paper"));

        AssertLayout(expected, model);

        Assert.Equal(40_378_184L, model.parameters().Sum(p => p.numel()));
    }

    private static void AssertLayout(List<(string Key, long[] Shape)> expected, TorchSharp.torch.nn.Module model)
    {
        var actual = StateDictLayout.Ordered(model); // PyTorch order: own params, own buffers, children
        Assert.Equal(expected.Select(e => e.Key), actual.Select(a => a.Key));
        foreach (var ((key, shape), (_, ours)) in expected.Zip(actual))
        {
            Assert.True(shape.SequenceEqual(ours.shape), $"{key}: expected [{string.Join(',', shape)}], got [{string.Join(',', ours.shape)}]");
        }
    }

    [Fact]
    public void Paper_MaskGITTransformer_matches_transformer_pretrained_key_for_key_with_ctvit_without_loss_networks()
    {
        var expected = T5EncoderTests.PaperEntries("transformer_paper_keys.json");
        using var model = MaskGitTransformer.Create(CtVitConfig.Paper, MaskGitConfig.Paper);

        AssertLayout(expected, model);
        Assert.Equal(83_638_352L, StateDictLayout.ParameterCount(model));
        Assert.All(model.CtVit.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(model.MaskGit.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Tiny_MaskGit_matches_logits_null_logits_guidance_embeddings_and_bias_of_the_fixture()
    {
        using var fixture = ReferenceFixture.Load("maskgit_tiny");
        using var model = LoadTiny(fixture);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = fixture["input.token_ids"];
        var shape = fixture["input.video_patch_shape"].data<long>().ToArray();
        var grid = (shape[0], shape[1], shape[2]);
        var context = fixture["input.text_embeds"];
        var textMask = fixture["input.text_mask"];

        var results = new (string Key, Tensor Actual)[]
        {
            ("out.rel_pos_bias", model.PositionBias(grid.Item1, grid.Item2, grid.Item3, CPU)),
            ("out.logits", model.forward(ids, grid, context, textMask)),
            ("out.null_logits", model.forward(ids, grid, context, textMask, condDropProb: 1)),
            ("out.logits_cfg5", model.ForwardWithCondScale(ids, grid, context, textMask, condScale: 5)),
            ("out.embeds", model.forward(ids, grid, context, textMask, returnEmbeds: true)),
        }.Select(r => (r.Key, Error: ReferenceFixture.MaxAbsDiff(r.Actual, fixture[r.Key]))).ToList();
        using var fromGrid = model.forward(ids.reshape(2, grid.Item1, grid.Item2, grid.Item3), context: context, textMask: textMask);

        foreach (var (key, error) in results)
        {
            output.WriteLine($"{key}: max |Δ| = {error:E2}");
        }

        Assert.All(results, r => Assert.True(r.Error <= Tolerance, $"{r.Key}: {r.Error:E2} > {Tolerance:E0}"));
        Assert.True(ReferenceFixture.MaxAbsDiff(fromGrid, fixture["out.logits"]) <= Tolerance, "4-D ids must give the same logits");
    }

    [Fact]
    public void Offset_table_position_bias_equals_the_all_pairs_MLP()
    {
        using var fixture = ReferenceFixture.Load("maskgit_tiny");
        using var model = LoadTiny(fixture);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var worst = 0.0;
        foreach (var (t, h, w) in new[] { (3L, 4L, 4L), (5L, 2L, 3L), (1L, 4L, 4L), (4L, 1L, 1L) })
        {
            model.BiasMethod = PositionBiasMethod.OffsetTable;
            var table = model.PositionBias(t, h, w, CPU);
            var again = model.PositionBias(t, h, w, CPU); // cached index
            model.BiasMethod = PositionBiasMethod.AllPairs;
            var pairs = model.PositionBias(t, h, w, CPU);
            var error = ReferenceFixture.MaxAbsDiff(table, pairs);
            output.WriteLine($"{t}×{h}×{w}: max |offset-table − all-pairs| = {error:E2}");
            Assert.True(T5EncoderTests.Same(table, again));
            worst = Math.Max(worst, error);
        }

        Assert.True(worst <= 1e-6, $"offset-table bias differs by {worst:E2}");
    }

    [Fact]
    public void Offset_table_bias_passes_gradients_to_the_MLP_like_the_all_pairs_one()
    {
        using var fixture = ReferenceFixture.Load("maskgit_tiny");
        using var scope = NewDisposeScope();
        var grads = new List<Tensor>();
        foreach (var method in new[] { PositionBiasMethod.OffsetTable, PositionBiasMethod.AllPairs })
        {
            using var model = LoadTiny(fixture);
            model.BiasMethod = method;
            var bias = model.PositionBias(3, 4, 4, CPU);
            (bias * bias).sum().backward();
            var g = model.named_parameters().First(p => p.name == "continuous_pos_bias.net.0.0.weight").parameter.grad!;
            grads.Add(g.clone());
        }

        var scale = grads[1].abs().max().item<float>();
        var error = ReferenceFixture.MaxAbsDiff(grads[0], grads[1]);
        output.WriteLine($"gradient of net.0.0.weight: max |Δ| = {error:E2} at max |g| = {scale:E2}");
        Assert.True(scale > 0);
        Assert.True(error <= 1e-5 * scale, $"relative gradient error {error / scale:E2}");
    }
}
