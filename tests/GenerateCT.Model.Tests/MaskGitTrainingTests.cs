using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.Tests.Fixtures;
using GenerateCT.Model.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public sealed class MaskGitTrainingTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] Findings =
    [
        "Bilateral pleural effusion.",
        "Cardiomegaly.",
        "A 12 mm nodule in the right upper lobe.",
        "No acute findings.",
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("gct-maskgit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>MaskGit tiny with a 32-wide context, matching the tiny T5 encoder used as text encoder here.</summary>
    private static MaskGitConfig LearningConfig => MaskGitConfig.Tiny with { DimContext = 32 };

    private static TextEmbedder TinyTextEmbedder()
    {
        manual_seed(31);
        var encoder = new T5Encoder(T5Config.Tiny with { VocabSize = 400 });
        return new TextEmbedder(encoder, T5Tokenizer.FromFile(ReferenceFixture.PathOf("spm_tiny.model")));
    }

    /// <summary>
    /// A 5 × 32 × 32 chest-like phantom in [−1, 1] (HU/1000): body ellipse, two air-filled lungs, and the
    /// finding of the prompt (effusion: fluid at the lung bases; cardiomegaly: a large heart; nodule: a
    /// dense blob in the right upper lung), with random jitter so no two volumes are identical.
    /// </summary>
    private static Tensor Phantom(int finding, Random random)
    {
        var v = new float[5 * 32 * 32];
        var jitterX = (random.NextDouble() - 0.5) * 1.5;
        var jitterY = (random.NextDouble() - 0.5) * 1.5;
        var heart = finding == 1 ? 8.5 : 5.0;
        for (var z = 0; z < 5; z++)
        {
            for (var y = 0; y < 32; y++)
            {
                for (var x = 0; x < 32; x++)
                {
                    var dx = x - 15.5 - jitterX;
                    var dy = y - 15.5 - jitterY;
                    double hu = -1000;
                    if ((dx * dx / (14.0 * 14.0)) + (dy * dy / (11.0 * 11.0)) < 1)
                    {
                        hu = 40;
                        var lung = Math.Abs(Math.Abs(dx) - 7) < 4.5 && Math.Abs(dy) < 8;
                        if (lung)
                        {
                            hu = -850;
                            if (finding == 0 && dy > 3)
                            {
                                hu = 10;
                            }

                            if (finding == 2 && dx < 0 && Math.Pow(dx + 7, 2) + Math.Pow(dy + 4, 2) < 6.5)
                            {
                                hu = 60;
                            }
                        }

                        if ((dx * dx) + Math.Pow(dy - 2, 2) < heart * heart)
                        {
                            hu = 45;
                        }
                    }

                    hu += (random.NextDouble() - 0.5) * 2;
                    v[(z * 32 * 32) + (y * 32) + x] = (float)(Math.Clamp(hu, -1000, 1000) / 1000.0);
                }
            }
        }

        return tensor(v, [1, 1, 5, 32, 32]);
    }

    private static (MaskGitBatch Batch, string[] Prompts) Cohort(MaskGitTransformer model, TextEmbedder text, int count, int seed)
    {
        var random = new Random(seed);
        var prompts = new string[count];
        var volumes = new Tensor[count];
        for (var i = 0; i < count; i++)
        {
            var finding = i % Findings.Length;
            prompts[i] = $"{random.Next(40, 80)} years old {(random.Next(2) == 0 ? "female" : "male")}: {Findings[finding]}";
            volumes[i] = Phantom(finding, random);
        }

        using var video = cat(volumes, 0);
        foreach (var v in volumes)
        {
            v.Dispose();
        }

        var ids = model.EncodeToIds(video);
        var embedding = text.Embed(prompts);
        return (new MaskGitBatch(ids, embedding.Embeddings, embedding.Mask), prompts);
    }

    [Fact]
    public void Tiny_MaskGIT_learns_phantom_tokens_from_their_prompts_and_uses_the_text()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // xunit runs test classes in parallel on the 2 cores; intra-op threads on top of that make
        // every tiny op wait for a descheduled OpenMP worker (measured: 4 s per step instead of 0.1 s).
        set_num_threads(1);
        manual_seed(0);
        using var model = MaskGitTransformer.Create(CtVitConfig.Tiny, LearningConfig);
        using var text = TinyTextEmbedder();
        var (train, _) = Cohort(model, text, 64, seed: 1);
        var (heldOut, _) = Cohort(model, text, 16, seed: 2);
        var shuffle = tensor(Enumerable.Range(0, 16).Select(i => (long)((i + 1) % 16)).ToArray());
        var shuffled = heldOut with { Context = heldOut.Context!.index_select(0, shuffle), TextMask = heldOut.TextMask!.index_select(0, shuffle) };
        var distinctIds = train.Ids.unique().output.shape[0];

        output.WriteLine($"cohorts encoded in {clock.Elapsed.TotalSeconds:F1} s");
        var untrained = MaskGitTrainer.Evaluate(model, heldOut, seed: 100, draws: 8);
        output.WriteLine($"evaluated in {clock.Elapsed.TotalSeconds:F1} s");
        using var trainer = new MaskGitTrainer(model, new MaskGitTrainingOptions
        {
            LearningRate = 3e-3,
            WarmupSteps = 20,
            TotalSteps = 400,
            AccumulationSteps = 2,
            Seed = 7,
        });
        var generator = new Random(3);
        MaskGitStepReport? last = null;
        for (var step = 0; step < 400; step++)
        {
            var micro = Enumerable.Range(0, 2).Select(_ =>
            {
                var index = tensor(Enumerable.Range(0, 8).Select(_ => (long)generator.Next(64)).ToArray());
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
}
