using GenerateCT.Model.Checkpoints;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Tests.Fixtures;
using GenerateCT.Model.Text;
using GenerateCT.Model.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

/// <summary>
/// Runs alone: these tests seed torch's process-wide generator before building models, and the learning
/// test measures a few hundred optimizer steps, so neither may share the process with other tests.
/// </summary>
[CollectionDefinition(nameof(MaskGitTrainingTests), DisableParallelization = true)]
public sealed class MaskGitTrainingCollection;

[Collection(nameof(MaskGitTrainingTests))]
public sealed class MaskGitTrainingTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>
    /// Finding sets the cohorts cycle through: large findings that survive the tiny CT-ViT's 32 × 32 input
    /// (a 360 mm field of view at 11 mm pixels), and none.
    /// </summary>
    private static readonly FindingKind[][] FindingSets =
    [
        [],
        [FindingKind.Cardiomegaly],
        [FindingKind.PleuralEffusion],
        [FindingKind.Consolidation],
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("gct-maskgit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>MaskGit tiny with a 32-wide context, matching the tiny T5 encoder used as text encoder here.</summary>
    internal static MaskGitConfig LearningConfig => MaskGitConfig.Tiny with { DimContext = 32 };

    internal static TextEmbedder TinyTextEmbedder()
    {
        manual_seed(31);
        var encoder = new T5Encoder(T5Config.Tiny with { VocabSize = 400 });
        return new TextEmbedder(encoder, T5Tokenizer.FromFile(ReferenceFixture.PathOf("spm_tiny.model")));
    }

    /// <summary>
    /// Phantom cases from the chest phantom generator (8 slices of 32 × 32 over the 300 mm scan), each
    /// resampled to the tiny CT-ViT's 5 × 32 × 32 input in [−1, 1] (HU/1000), with the prompt of its report
    /// (`{age} years old {sex}: {impression}`).
    /// </summary>
    internal static (List<Tensor> Volumes, string[] Prompts) PhantomCases(int count, int firstSeed)
    {
        var volumes = new List<Tensor>(count);
        var prompts = new string[count];
        for (var i = 0; i < count; i++)
        {
            var c = ChestPhantomGenerator.Generate(new PhantomSpec { Seed = firstSeed + i, Slices = 8, Size = 32, FindingKinds = FindingSets[i % FindingSets.Length] });
            using var sample = CtVolumeDataset.Preprocess(c.Volume, CtVitConfig.Tiny.Frames, CtVitConfig.Tiny.ImageSize); // 1 5 32 32
            volumes.Add(sample.unsqueeze(0));                                                                              // 1 1 5 32 32
            prompts[i] = c.Prompt;
        }

        return (volumes, prompts);
    }

    private static (MaskGitBatch Batch, string[] Prompts) Cohort(MaskGitTransformer model, TextEmbedder text, int count, int firstSeed)
    {
        var (volumes, prompts) = PhantomCases(count, firstSeed);
        using var video = cat(volumes, 0);
        volumes.ForEach(v => v.Dispose());
        var ids = model.EncodeToIds(video);
        var embedding = text.Embed(prompts);
        return (new MaskGitBatch(ids, embedding.Embeddings, embedding.Mask), prompts);
    }

    [Fact]
    public void Tiny_MaskGIT_learns_phantom_tokens_from_their_prompts_and_uses_the_text()
    {
        // On a loaded 2-core machine intra-op threads make every tiny op wait for a descheduled
        // OpenMP worker (measured under load: 4 s per step with 2 threads, 0.12 s with 1).
        var threads = get_num_threads();
        set_num_threads(1);
        try
        {
            LearnPhantomTokens();
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    private void LearnPhantomTokens()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using var text = TinyTextEmbedder();
        // 256 phantoms, so that the model cannot memorise each prompt's volume and must learn what the
        // findings in the text do to the tokens; 600 steps: the true-vs-shuffled gap held at 0.05–0.07
        // nats over four phantom seeds (measured), at 400 steps it was 0.02–0.04.
        const int TrainCases = 256, HeldOutCases = 32, Steps = 600;
        var (train, trainPrompts) = Cohort(model, text, TrainCases, firstSeed: 1000);
        var (heldOut, _) = Cohort(model, text, HeldOutCases, firstSeed: 5000);
        // Case i + 1 always has another finding set than case i (the cohorts cycle through them).
        var shuffle = tensor(Enumerable.Range(0, HeldOutCases).Select(i => (long)((i + 1) % HeldOutCases)).ToArray());
        var shuffled = heldOut with { Context = heldOut.Context!.index_select(0, shuffle), TextMask = heldOut.TextMask!.index_select(0, shuffle) };
        var distinctIds = train.Ids.unique().output.shape[0];

        output.WriteLine($"phantom cohorts generated and encoded in {clock.Elapsed.TotalSeconds:F1} s; e.g. \"{trainPrompts[1]}\"");
        var untrained = MaskGitTrainer.Evaluate(model, heldOut, seed: 100, draws: 8);
        output.WriteLine($"evaluated in {clock.Elapsed.TotalSeconds:F1} s");
        using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions
        {
            LearningRate = 3e-3,
            WarmupSteps = 20,
            DecayEndStep = Steps,
            GradientAccumulationSteps = 2,
            Seed = 7,
        });
        var generator = new Random(3);
        MaskGitStepReport? last = null;
        for (var step = 0; step < Steps; step++)
        {
            var micro = Enumerable.Range(0, 2).Select(_ =>
            {
                var index = tensor(Enumerable.Range(0, 8).Select(_ => (long)generator.Next(TrainCases)).ToArray());
                return new MaskGitBatch(train.Ids.index_select(0, index), train.Context!.index_select(0, index), train.TextMask!.index_select(0, index));
            }).ToList();
            last = trainer.TrainStep(micro);
            if (step % 100 == 0)
            {
                output.WriteLine($"step {step}: loss {last.Loss:F3} at {clock.Elapsed.TotalSeconds:F1} s");
            }
        }

        var trained = MaskGitTrainer.Evaluate(model, heldOut, seed: 100, draws: 8);
        var withShuffledText = MaskGitTrainer.Evaluate(model, shuffled, seed: 100, draws: 8);
        output.WriteLine($"distinct CT-ViT ids in the training set: {distinctIds}; last step loss {last!.Loss:F3}, masked accuracy {last.Accuracy:P1}");
        output.WriteLine($"held-out masked CE: untrained {untrained:F4}, trained {trained:F4} ({(1 - (trained / untrained)):P1} lower), trained with shuffled prompts {withShuffledText:F4}");

        Assert.True(trained <= 0.7 * untrained, $"trained CE {trained:F4} is not 30 % below untrained {untrained:F4}");
        Assert.True(trained < withShuffledText, $"true prompts {trained:F4} do not beat shuffled prompts {withShuffledText:F4}");
    }

    internal static MaskGitBatch RandomBatch(int seed)
    {
        var generator = new Generator((ulong)seed);
        var ids = randint(0, 64, [4, 3, 4, 4], generator: generator);
        var context = randn([4, 6, 32], generator: generator);
        context[3, TensorIndex.Slice(4)] = zeros(2, 32);
        return new MaskGitBatch(ids, context, context.ne(0).any(-1));
    }

    [Fact]
    public void Warm_up_rises_linearly_then_the_cosine_decays_to_zero()
    {
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions { WarmupSteps = 10, DecayEndStep = 110 });

        Assert.Equal(3e-6, trainer.LearningRateAt(0), 12);
        Assert.Equal(3e-5, trainer.LearningRateAt(9), 12);
        Assert.Equal(1.5e-5, trainer.LearningRateAt(60), 12);
        Assert.Equal(0, trainer.LearningRateAt(110), 12);
        Assert.Equal(0, trainer.LearningRateAt(500), 12);
    }

    [Fact]
    public void Training_masks_a_cosine_share_of_tokens_and_scores_only_masked_positions()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        var prob = tensor(new float[] { 1f, 0.5f, 0.01f });

        var mask = MaskGitTransformer.MaskSubset(3, 48, prob, CPU, generator);

        Assert.Equal(new long[] { 48, 24, 1 }, mask.sum(1).data<long>().ToArray());
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        var batch = RandomBatch(1);
        using var loss = model.Loss(batch.Ids, batch.Context, batch.TextMask, 0.25, new Generator(9));
        Assert.InRange(loss.MaskedTokens, 4, 4 * 48);
        Assert.True(float.IsFinite(loss.Loss.item<float>()));
        Assert.InRange(loss.Accuracy.item<float>(), 0f, 1f);
    }

    [Fact]
    public void Resumed_training_continues_exactly_like_an_uninterrupted_run()
    {
        var options = new MaskGitTrainingOptions { LearningRate = 1e-3, WarmupSteps = 2, DecayEndStep = 6, GradientAccumulationSteps = 2, Seed = 3 };
        MaskGitBatch[] Micro(int step) => [RandomBatch(100 + (2 * step)), RandomBatch(101 + (2 * step))];
        var checkpoint = Path.Combine(_dir, "maskgit.ckpt");

        manual_seed(0);
        using var straight = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using var straightTrainer = new MaskGitTrainer(straight, options);
        for (var step = 0; step < 6; step++)
        {
            straightTrainer.TrainStep(Micro(step));
        }

        manual_seed(0);
        using var first = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using (var firstTrainer = new MaskGitTrainer(first, options))
        {
            for (var step = 0; step < 3; step++)
            {
                firstTrainer.TrainStep(Micro(step));
            }

            firstTrainer.SaveCheckpoint(checkpoint);
        }

        manual_seed(42); // different initial weights: everything must come from the checkpoint
        using var resumed = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using var resumedTrainer = new MaskGitTrainer(resumed, options);
        resumedTrainer.Resume(checkpoint);
        Assert.Equal(3, resumedTrainer.Step);
        for (var step = 3; step < 6; step++)
        {
            resumedTrainer.TrainStep(Micro(step));
        }

        var expected = straight.state_dict();
        foreach (var (key, value) in resumed.state_dict())
        {
            Assert.True(T5EncoderTests.Same(value, expected[key]), $"{key} differs after resume");
        }
    }

    [Fact]
    public void Resume_from_a_checkpoint_of_another_stage_or_without_optimizer_state_is_refused()
    {
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        var path = Path.Combine(_dir, "weights-only.ckpt");
        ModelCheckpoint.Save(path, model, new CheckpointInfo { Stage = "maskgit", Config = "tiny" });
        using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions());

        var e = Assert.Throws<CheckpointFormatException>(() => trainer.Resume(path));
        Assert.Contains("optimizer", e.Message);
        ModelCheckpoint.Save(path, model, new CheckpointInfo { Stage = "ctvit", Config = "tiny" });
        Assert.Contains("ctvit", Assert.Throws<CheckpointFormatException>(() => trainer.Resume(path)).Message);
    }

    [Fact]
    public async Task A_training_run_reports_progress_and_leaves_a_resumable_checkpoint()
    {
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using var text = TinyTextEmbedder();
        var (volumes, prompts) = PhantomCases(4, firstSeed: 1);
        using var data = MaskGitDataset.Encode(model, volumes, prompts, text, CPU);
        volumes.ForEach(v => v.Dispose());
        var path = Path.Combine(_dir, "run.ckpt");
        var reports = new List<TrainingStep>();
        using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions { WarmupSteps = 2, DecayEndStep = 4, BatchSize = 2, GradientAccumulationSteps = 2 });

        await trainer.RunAsync(data, totalSteps: 4, path, checkpointEvery: 2, new SynchronousProgress(reports.Add));

        Assert.Equal([1L, 2, 3, 4], reports.Select(r => r.Step));
        Assert.All(reports, r => Assert.True(double.IsFinite(r.Loss) && r.Metrics["masked_accuracy"] is >= 0 and <= 1));
        using var checkpoint = ModelCheckpoint.Read(path);
        Assert.Equal(4, checkpoint.Info.Step);
        Assert.Equal("maskgit", checkpoint.Info.Stage);
        Assert.Contains("loss", checkpoint.Info.Metrics.Keys);
        Assert.Throws<ArgumentException>(() => MaskGitDataset.Encode(model, [zeros(new long[] { 1, 1, 5, 32, 32 })], [], text, CPU));
    }

    private sealed class SynchronousProgress(Action<TrainingStep> report) : IProgress<TrainingStep>
    {
        public void Report(TrainingStep value) => report(value);
    }
}
