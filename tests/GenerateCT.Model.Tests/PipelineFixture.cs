using GenerateCT.Imaging;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Tests.Fixtures;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

/// <summary>
/// Trains one tiny bundle (bounded steps) for all pipeline tests of the class: the expensive part runs once.
/// The training cases are simple chests drawn here: a soft-tissue body, two lungs, a heart whose
/// size follows "Cardiomegaly" in the prompt.
/// </summary>
public sealed class PipelineFixture : IDisposable
{
    public PipelineFixture()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("gct-pipeline-").FullName;
        BundleDirectory = Path.Combine(Directory, "bundle");
        var cases = Enumerable.Range(0, 24).Select(i => SyntheticChest(i, cardiomegaly: i % 2 == 0)).ToList();
        var options = new TrainAllOptions { CtVitSteps = 40, MaskGitSteps = 30, SuperResSteps = 12, BatchSize = 4, Seed = 3 };
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        Manifest = BundleTrainer.TrainAsync(GenerationConfig.Tiny, cases, ReferenceFixture.PathOf("spm_tiny.model"), BundleDirectory, options, CPU)
            .GetAwaiter().GetResult();
        TrainingSeconds = stopwatch.Elapsed.TotalSeconds;
    }

    public string Directory { get; }

    public string BundleDirectory { get; }

    public BundleManifest Manifest { get; }

    public double TrainingSeconds { get; }

    /// <summary>A 9 × 64 × 64 HU chest: air outside, body 40 HU, lungs −850 HU, heart 60 HU (larger with cardiomegaly).</summary>
    public static TrainingCase SyntheticChest(int seed, bool cardiomegaly)
    {
        var rng = new Random(seed);
        const int D = 9, S = 64;
        var v = new Volume(D, S, S) { Spacing = (300.0 / D, 360.0 / S, 360.0 / S) };
        var heart = cardiomegaly ? 13 + rng.NextDouble() * 2 : 7 + rng.NextDouble() * 2;
        for (var z = 0; z < D; z++)
        {
            for (var y = 0; y < S; y++)
            {
                for (var x = 0; x < S; x++)
                {
                    double dx = x - 32, dy = y - 32;
                    var hu = -1000f;
                    if ((dx * dx / (28.0 * 28.0)) + (dy * dy / (22.0 * 22.0)) <= 1)
                    {
                        hu = 40;
                        var lx = Math.Abs(dx) - 13;
                        if ((lx * lx / (10.0 * 10.0)) + (dy * dy / (16.0 * 16.0)) <= 1)
                        {
                            hu = -850;
                        }

                        var hy = dy - 4;
                        if ((dx * dx) + (hy * hy) <= heart * heart && z >= 2 && z <= 6)
                        {
                            hu = 60;
                        }
                    }

                    v[z, y, x] = hu + (float)(rng.NextDouble() * 20 - 10);
                }
            }
        }

        var age = 40 + rng.Next(40);
        var prompt = cardiomegaly ? $"{age} years old female: Cardiomegaly." : $"{age} years old male: No acute findings.";
        return new TrainingCase(v, prompt);
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
