using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Precision;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

/// <summary>
/// The shape a federated round drives, specified once for the three stage trainers: start from given
/// weights, run N local steps on a data source, hand back new weights, the sample count and scalar
/// metrics; and resume a checkpoint the same way. Tiny configs, a few steps each.
/// </summary>
public sealed class StageTrainerTests(ITestOutputHelper output) : IDisposable
{
    private const int RoundSteps = 2;

    private readonly string _dir = Directory.CreateTempSubdirectory("gct-stage-trainer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Stage_names_parse_and_format_in_one_place()
    {
        Assert.Equal(["ctvit", "maskgit", "superres"], ModelStage.All.Select(s => s.Name));
        Assert.Same(ModelStage.MaskGit, ModelStage.Parse("maskgit"));
        Assert.True(ModelStage.TryParse("superres", out var sr) && sr == ModelStage.SuperRes);
        Assert.False(ModelStage.TryParse("text-encoder", out _));
        Assert.Contains("ctvit, maskgit, superres", Assert.Throws<ArgumentException>(() => ModelStage.Parse("CTVIT")).Message);
        Assert.Equal("ctvit", ModelStage.CtVit.ToString());
    }

    [Fact]
    public void The_three_trainers_share_option_names()
    {
        IStageTrainingOptions[] options =
        [
            new CtVitTrainingOptions { BatchSize = 2, GradientAccumulationSteps = 3, WarmupSteps = 4, DecayEndStep = 40, Seed = 5 },
            new MaskGitTrainingOptions { BatchSize = 2, GradientAccumulationSteps = 3, WarmupSteps = 4, DecayEndStep = 40, Seed = 5 },
            new SuperResTrainingOptions { BatchSize = 2, GradientAccumulationSteps = 3, WarmupSteps = 4, DecayEndStep = 40, Seed = 5 },
        ];

        Assert.All(options, o => Assert.Equal((2, 3, 4L, (long?)40, 5L), (o.BatchSize, o.GradientAccumulationSteps, o.WarmupSteps, o.DecayEndStep, o.Seed)));
        Assert.All(options, o => Assert.Equal(o.LearningRate / 4, o.Schedule().At(0), 15));
    }

    [Fact]
    public async Task CtVit_round_starts_from_given_weights_and_returns_new_weights_and_the_sample_count()
    {
        using var data = new CtVolumeDataset(CtVitTrainingTests.TrainingVolumes(3, seed: 4), CtVitConfig.Tiny);
        using var trainer = NewCtVitTrainer(data, initSeed: 1);
        using var start = NewCtVitTrainer(data, initSeed: 2);
        await AssertRoundAsync(trainer, start, data, expectedSamples: 3, "psnr");
    }

    [Fact]
    public async Task MaskGit_round_starts_from_given_weights_and_returns_new_weights_and_the_sample_count()
    {
        using var text = MaskGitTrainingTests.TinyTextEmbedder();
        manual_seed(1);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, MaskGitTrainingTests.LearningConfig);
        manual_seed(2);
        using var startModel = MaskGitTransformer.Create(CtVitConfig.Tiny, MaskGitTrainingTests.LearningConfig);
        using var data = MaskGitData(model, text, count: 3);
        using var trainer = new MaskGitTrainer(model, MaskGitOptions);
        using var start = new MaskGitTrainer(startModel, MaskGitOptions);
        await AssertRoundAsync(trainer, start, data, expectedSamples: 3, "masked_accuracy");
        Assert.All(trainer.CopyWeights().Keys, k => Assert.False(k.StartsWith("ctvit.", StringComparison.Ordinal), $"{k}: the frozen CT-ViT is not part of a MaskGIT update"));
    }

    [Fact]
    public async Task SuperRes_round_starts_from_given_weights_and_returns_new_weights_and_the_sample_count()
    {
        var examples = SuperResExamples();
        manual_seed(1);
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        manual_seed(2);
        using var startUnet = new SuperResUnet(SuperResUnetConfig.Tiny);
        using var trainer = new SuperResTrainer(new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny), SuperResOptions);
        using var start = new SuperResTrainer(new SuperResDiffusion(startUnet, SuperResDiffusionOptions.Tiny), SuperResOptions);
        await AssertRoundAsync(trainer, start, examples, expectedSamples: examples.Count);
    }

    [Fact]
    public void CtVit_resumes_its_checkpoint_like_the_other_stages()
    {
        using var data = new CtVolumeDataset(CtVitTrainingTests.TrainingVolumes(3, seed: 4), CtVitConfig.Tiny);
        using var trained = NewCtVitTrainer(data, initSeed: 1);
        using var fresh = NewCtVitTrainer(data, initSeed: 2);
        AssertResume(trained, fresh, data, Path.Combine(_dir, "ctvit.gct"));
    }

    [Fact]
    public void MaskGit_resumes_its_checkpoint_like_the_other_stages()
    {
        using var text = MaskGitTrainingTests.TinyTextEmbedder();
        manual_seed(1);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, MaskGitTrainingTests.LearningConfig);
        manual_seed(2);
        using var freshModel = MaskGitTransformer.Create(CtVitConfig.Tiny, MaskGitTrainingTests.LearningConfig);
        using var data = MaskGitData(model, text, count: 3);
        using var trained = new MaskGitTrainer(model, MaskGitOptions);
        using var fresh = new MaskGitTrainer(freshModel, MaskGitOptions);
        AssertResume(trained, fresh, data, Path.Combine(_dir, "maskgit.gct"));
    }

    [Fact]
    public void SuperRes_resumes_its_checkpoint_like_the_other_stages()
    {
        var examples = SuperResExamples();
        manual_seed(1);
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        manual_seed(2);
        using var freshUnet = new SuperResUnet(SuperResUnetConfig.Tiny);
        using var trained = new SuperResTrainer(new SuperResDiffusion(unet, SuperResDiffusionOptions.Tiny), SuperResOptions);
        using var fresh = new SuperResTrainer(new SuperResDiffusion(freshUnet, SuperResDiffusionOptions.Tiny), SuperResOptions);
        AssertResume(trained, fresh, examples, Path.Combine(_dir, "superres"));
    }

    private static MaskGitTrainingOptions MaskGitOptions => new() { LearningRate = 1e-3, WarmupSteps = 1, DecayEndStep = 10, BatchSize = 2, Seed = 3 };

    private static SuperResTrainingOptions SuperResOptions => new() { LearningRate = 1e-3, BatchSize = 2, CheckpointEvery = 0, Seed = 3 };

    private static CtVitTrainer NewCtVitTrainer(CtVolumeDataset data, int initSeed)
    {
        manual_seed(initSeed);
        var model = new CtVit.CtVit(CtVitConfig.Tiny);
        return new CtVitTrainer(model, data, new CtVitTrainingOptions { LearningRate = 1e-3, BatchSize = 2, Seed = 3, Precision = TrainingPrecision.Fp32 }, CPU);
    }

    private static MaskGitDataset MaskGitData(MaskGitTransformer model, Text.TextEmbedder text, int count)
    {
        var (volumes, prompts) = MaskGitTrainingTests.PhantomCases(count, firstSeed: 1);
        try
        {
            return MaskGitDataset.Encode(model, volumes, prompts, text, CPU);
        }
        finally
        {
            volumes.ForEach(v => v.Dispose());
        }
    }

    private static List<SuperResExample> SuperResExamples()
    {
        var high = SuperResTrainingTests.PhantomSlices(1, firstSeed: 5);                   // 6 1 32 32
        var low = SuperResTrainingTests.LowResOf(high, 16);
        manual_seed(9);
        return SuperResTrainingTests.Examples(high, low, randn(5, 24));
    }

    /// <summary>
    /// A round on <paramref name="trainer"/> from the weights of <paramref name="start"/> (a differently
    /// initialised model): N steps reported, the new weights near the given ones and not equal to them, the
    /// sample count of the data source, and the scalar metrics finite.
    /// </summary>
    private async Task AssertRoundAsync<TData>(IStageTrainer<TData> trainer, IStageTrainer<TData> start, TData data, int expectedSamples, params string[] stageMetrics)
    {
        var initial = trainer.CopyWeights();
        var given = start.CopyWeights();
        var steps = new List<TrainingStep>();

        using var update = await trainer.TrainLocalAsync(given, data, RoundSteps, new InlineProgress<TrainingStep>(steps.Add));

        Assert.Equal(trainer.Stage, update.Stage);
        Assert.Equal(expectedSamples, update.SampleCount);
        Assert.Equal(RoundSteps, update.Steps);
        Assert.Equal(RoundSteps, trainer.Step);
        Assert.Equal([1L, 2L], steps.Select(s => s.Step));
        Assert.All(steps, s => Assert.Equal(trainer.Stage, s.Stage));
        Assert.All(steps, s => Assert.True(double.IsFinite(s.Loss) && s.LearningRate > 0, $"step {s.Step}: loss {s.Loss}, lr {s.LearningRate}"));
        Assert.Equal(given.Keys.Order(StringComparer.Ordinal), update.Weights.Keys.Order(StringComparer.Ordinal));
        Assert.True(double.IsFinite(update.Metrics["loss"]));
        foreach (var name in stageMetrics)
        {
            Assert.True(double.IsFinite(update.Metrics[name]), $"metric {name} missing or not finite");
        }

        var fromGiven = Distance(update.Weights, given);
        var fromInitial = Distance(update.Weights, initial);
        output.WriteLine($"{trainer.Stage}: {update.Weights.Count} tensors, |update − given| = {fromGiven:E3}, |update − own init| = {fromInitial:E3}, metrics {string.Join(", ", update.Metrics.Select(kv => $"{kv.Key} {kv.Value:G4}"))}");
        Assert.True(fromGiven > 0, "the round did not change the weights");
        Assert.True(fromGiven < fromInitial / 4, "the round did not start from the given weights");
        Dispose(initial);
        Dispose(given);
    }

    /// <summary>Two steps, a checkpoint, and a differently initialised trainer that resumes it: same step, same weights.</summary>
    private static void AssertResume<TData>(IStageTrainer<TData> trained, IStageTrainer<TData> fresh, TData data, string path)
    {
        trained.TrainStep(data);
        trained.TrainStep(data);
        trained.SaveCheckpoint(path);

        fresh.Resume(path);

        Assert.Equal(2, fresh.Step);
        var expected = trained.CopyWeights();
        var actual = fresh.CopyWeights();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, kv => Assert.True(T5EncoderTests.Same(kv.Value, actual[kv.Key]), $"{kv.Key} differs after resume"));
        var next = fresh.TrainStep(data);
        Assert.Equal(3, next.Step);
        Dispose(expected);
        Dispose(actual);
    }

    /// <summary>Euclidean distance over every floating-point tensor of two state dicts.</summary>
    private static double Distance(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b)
    {
        using var scope = NewDisposeScope();
        var sum = 0.0;
        foreach (var (key, t) in a.Where(kv => kv.Value.is_floating_point()))
        {
            sum += (t.to(float64) - b[key].to(float64)).pow(2).sum().item<double>();
        }

        return Math.Sqrt(sum);
    }

    private static void Dispose(Dictionary<string, Tensor> weights)
    {
        foreach (var t in weights.Values)
        {
            t.Dispose();
        }
    }

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
