using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Tests.Fixtures;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class MaskGitSamplerTests
{
    private static Tensor Sample(ReferenceFixture fixture, (long, long, long) grid, double condScale, long seed, IProgress<int>? progress = null)
    {
        using var model = MaskGitTests.LoadTiny(fixture);
        var options = MaskGitSamplingOptions.For(MaskGitConfig.Tiny, seed) with { CondScale = condScale };
        return MaskGitSampler.SampleIds(model, 2, grid, fixture["input.text_embeds"], fixture["input.text_mask"], options, progress);
    }

    [Fact]
    public void Same_seed_gives_the_same_ids_and_another_seed_other_ids()
    {
        using var fixture = ReferenceFixture.Load("maskgit_tiny");
        var steps = new List<int>();

        using var a = Sample(fixture, (3, 4, 4), 5, seed: 7, new Progress<int>(steps.Add));
        using var b = Sample(fixture, (3, 4, 4), 5, seed: 7);
        using var c = Sample(fixture, (3, 4, 4), 5, seed: 8);

        Assert.Equal(new long[] { 2, 48 }, a.shape);
        Assert.True(T5EncoderTests.Same(a, b));
        Assert.False(T5EncoderTests.Same(a, c));
        Assert.True(a.ge(0).logical_and(a.lt(MaskGitConfig.Tiny.NumTokens)).all().item<bool>(), "no mask id may remain");
    }

    [Fact]
    public void Guidance_scale_1_and_5_give_different_ids()
    {
        using var fixture = ReferenceFixture.Load("maskgit_tiny");

        using var unguided = Sample(fixture, (3, 4, 4), 1, seed: 3);
        using var guided = Sample(fixture, (3, 4, 4), 5, seed: 3);

        Assert.False(T5EncoderTests.Same(unguided, guided));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Any_one_plus_2k_frames_gives_a_full_token_grid(long tokenFrames)
    {
        using var fixture = ReferenceFixture.Load("maskgit_tiny");

        using var ids = Sample(fixture, (tokenFrames, 4, 4), 5, seed: 1);

        Assert.Equal(new long[] { 2, tokenFrames * 16 }, ids.shape);
        Assert.True(ids.lt(MaskGitConfig.Tiny.NumTokens).all().item<bool>());
    }

    [Fact]
    public void Gumbel_sampling_at_zero_temperature_is_the_argmax()
    {
        using var scope = NewDisposeScope();
        var logits = randn(4, 10, 64);
        var generator = new Generator(1);

        var sampled = MaskGitSampler.GumbelSample(logits, 0, generator);

        Assert.True(T5EncoderTests.Same(sampled, logits.argmax(-1)));
    }
}
