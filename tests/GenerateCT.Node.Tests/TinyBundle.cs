using GenerateCT.Imaging.Phantoms;
using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Model.Pipeline;
using GenerateCT.Testing;

namespace GenerateCT.Node.Tests;

/// <summary>Tiny bundles trained in seconds for node tests: quality is irrelevant, the chain is real.</summary>
internal static class TinyBundle
{
    /// <summary>
    /// Trains the tiny config into <paramref name="directory"/> on <paramref name="cases"/> 9-slice phantoms
    /// (seeds from <paramref name="firstSeed"/>; with <paramref name="findings"/>, every other case, from the
    /// first, has cardiomegaly), <paramref name="steps"/> steps per stage.
    /// </summary>
    public static Task<BundleManifest> TrainAsync(string directory, int cases, int size, int steps, long seed, int firstSeed = 0, bool findings = true)
    {
        var training = Enumerable.Range(0, cases)
            .Select(i => ChestPhantomGenerator.Generate(new PhantomSpec
            {
                Seed = firstSeed + i,
                Slices = 9,
                Size = size,
                FindingKinds = findings && i % 2 == 0 ? [FindingKind.Cardiomegaly] : [],
            }))
            .Select(p => new TrainingCase(p.Volume, p.Prompt))
            .ToList();
        return BundleTrainer.TrainAsync(
            GenerationConfig.Tiny,
            training,
            ReferenceFixtures.PathOf("spm_tiny.model"),
            directory,
            new TrainAllOptions { CtVitSteps = steps, MaskGitSteps = steps, SuperResSteps = steps, BatchSize = 2, Seed = seed },
            TorchSharp.torch.CPU);
    }
}
