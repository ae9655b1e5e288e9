using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

/// <summary>
/// The optional token critic (paper §3.2; off in the released model). In the MaskGIT training collection:
/// these tests seed torch's process-wide generator before building models.
/// </summary>
[Collection(nameof(MaskGitTrainingTests))]
public sealed class TokenCriticTests(ITestOutputHelper output) : IDisposable
{
    private static readonly MaskGitConfig CriticConfig = MaskGitTrainingTests.LearningConfig with { TokenCritic = true };

    private readonly string _dir = Directory.CreateTempSubdirectory("gct-critic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_critic_is_off_as_released_and_when_on_has_the_reference_attribute_names()
    {
        Assert.False(MaskGitConfig.Paper.TokenCritic);
        Assert.False(MaskGitConfig.Tiny.TokenCritic);
        manual_seed(0);
        using var released = MaskGitTransformer.Create(CtVitConfig.Tiny, MaskGitTrainingTests.LearningConfig);
        Assert.Null(released.Critic);
        Assert.DoesNotContain(released.state_dict().Keys, k => k.StartsWith("critic.", StringComparison.Ordinal));

        using var withCritic = MaskGitTransformer.Create(CtVitConfig.Tiny, CriticConfig);
        var keys = StateDictLayout.Ordered(withCritic).Select(e => e.Key).ToList();
        var critic = keys.Where(k => k.StartsWith("critic.", StringComparison.Ordinal)).ToList();

        // ctvit.*, maskgit.*, then critic.* (the order of MaskGITTransformer.__init__).
        Assert.Equal(keys.Count - critic.Count, keys.FindIndex(k => k.StartsWith("critic.", StringComparison.Ordinal)));
        var layout = StateDictLayout.Ordered(withCritic.Critic!).ToDictionary(e => e.Key, e => e.Value.shape);
        Assert.Equal([65L, 32], layout["token_emb.weight"]);
        Assert.Equal([64L, 32], layout["pos_emb.weight"]);
        Assert.Equal([1L, 32], layout["to_logits.0.weight"]);
        Assert.Equal([1L], layout["to_logits.0.bias"]);
        Assert.Contains("transformer.layers.1.0.dsconv.weight", layout.Keys);          // PEG
        Assert.Contains("transformer.layers.1.2.null_kv", layout.Keys);                // cross-attention
        Assert.Contains("transformer.norm_out.gamma", layout.Keys);
        Assert.DoesNotContain(layout.Keys, k => k.StartsWith("continuous_pos_bias", StringComparison.Ordinal)); // no 3-D bias in the critic
        Assert.Equal(critic.Count, layout.Count);
    }

    /// <summary>One intra-op thread: on the loaded 2-core machine tiny ops otherwise wait for descheduled workers.</summary>
    private static void SingleThreaded(Action action)
    {
        var threads = get_num_threads();
        set_num_threads(1);
        try
        {
            action();
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Fact]
    public void With_a_critic_the_critic_loss_is_computed_and_falls_over_a_few_steps_on_a_fixed_batch() => SingleThreaded(() =>
    {
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, CriticConfig);
        var batch = MaskGitTrainingTests.RandomBatch(11);
        using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions { LearningRate = 1e-3, WarmupSteps = 0, DecayEndStep = 1000, Seed = 5 });

        var before = MaskGitTrainer.EvaluateCritic(model, batch, seed: 50, draws: 8);
        var reports = Enumerable.Range(0, 30).Select(_ => trainer.TrainStep([batch])).ToList();
        var after = MaskGitTrainer.EvaluateCritic(model, batch, seed: 50, draws: 8);

        output.WriteLine($"critic BCE on the fixed batch: before {before:F4}, after 30 steps {after:F4}; training-step critic loss {reports[0].CriticLoss:F4} → {reports[^1].CriticLoss:F4}");
        Assert.All(reports, r => Assert.True(r.CriticLoss is { } c && double.IsFinite(c), "every step reports a critic loss"));
        Assert.True(after < 0.9 * before, $"critic loss {after:F4} did not fall 10 % below {before:F4}");
    });

    [Fact]
    public void Sampling_with_a_critic_is_deterministic_for_a_seed_and_differs_from_sampling_by_confidence() => SingleThreaded(() =>
    {
        manual_seed(2);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, CriticConfig);
        using var scope = NewDisposeScope();
        var context = randn([2, 6, 32], generator: new Generator(3));
        var options = MaskGitSamplingOptions.For(CriticConfig, seed: 7);

        var a = MaskGitSampler.SampleIds(model.MaskGit, 2, (3, 4, 4), context, null, options, critic: model.Critic);
        var b = MaskGitSampler.SampleIds(model.MaskGit, 2, (3, 4, 4), context, null, options, critic: model.Critic);
        var withoutCritic = MaskGitSampler.SampleIds(model.MaskGit, 2, (3, 4, 4), context, null, options);

        Assert.True(T5EncoderTests.Same(a, b), "one seed, one result");
        Assert.False(T5EncoderTests.Same(a, withoutCritic), "the critic's scores must change what is re-masked");
        Assert.True(a.ge(0).logical_and(a.lt(CriticConfig.NumTokens)).all().item<bool>(), "no mask id may remain");
        using var volume = model.Sample(context, null, 2, frames: 5, options);
        Assert.Equal([2L, 1, 5, 32, 32], volume.shape);
    });

    [Fact]
    public void A_checkpoint_keeps_the_critic_and_resumes_only_into_a_model_with_one()
    {
        var options = new MaskGitTrainingOptions { LearningRate = 1e-3, WarmupSteps = 1, DecayEndStep = 10, Seed = 1 };
        var path = Path.Combine(_dir, "critic.ckpt");
        manual_seed(0);
        using var trained = MaskGitTransformer.Create(CtVitConfig.Tiny, CriticConfig);
        using (var trainer = new MaskGitTrainer(trained, options))
        {
            trainer.TrainStep([MaskGitTrainingTests.RandomBatch(1)]);
            trainer.TrainStep([MaskGitTrainingTests.RandomBatch(2)]);
            trainer.SaveCheckpoint(path, new Dictionary<string, double> { ["critic_loss"] = 0.5 });
        }

        manual_seed(9); // other initial weights: the critic must come from the file
        using var resumed = MaskGitTransformer.Create(CtVitConfig.Tiny, CriticConfig);
        using var resumedTrainer = new MaskGitTrainer(resumed, options);
        resumedTrainer.Resume(path);

        Assert.Equal(2, resumedTrainer.Step);
        var expected = trained.state_dict();
        var criticKeys = 0;
        foreach (var (key, value) in resumed.state_dict())
        {
            Assert.True(T5EncoderTests.Same(value, expected[key]), $"{key} differs after the round trip");
            criticKeys += key.StartsWith("critic.", StringComparison.Ordinal) ? 1 : 0;
        }

        Assert.True(criticKeys > 0);
        Assert.NotNull(resumedTrainer.TrainStep([MaskGitTrainingTests.RandomBatch(3)]).CriticLoss);

        using var withoutCritic = MaskGitTransformer.Create(CtVitConfig.Tiny, MaskGitTrainingTests.LearningConfig);
        using var plainTrainer = new MaskGitTrainer(withoutCritic, options);
        var e = Assert.Throws<CheckpointFormatException>(() => plainTrainer.Resume(path));
        Assert.Contains("token critic", e.Message);
        var plainPath = Path.Combine(_dir, "plain.ckpt");
        plainTrainer.SaveCheckpoint(plainPath);
        Assert.Contains("without a token critic", Assert.Throws<CheckpointFormatException>(() => resumedTrainer.Resume(plainPath)).Message);
    }
}
