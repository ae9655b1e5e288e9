using System.Collections;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Tests.Fixtures;
using GenerateCT.Model.Training;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public sealed class PipelineTests(PipelineFixture fixture, ITestOutputHelper output) : IClassFixture<PipelineFixture>
{
    private const string Prompt = "64 years old female: Cardiomegaly.";

    [Fact]
    public async Task Trained_tiny_bundle_generates_the_configured_shape_in_HU_range_and_repeats_for_the_same_seed()
    {
        output.WriteLine($"train all (tiny, 24 cases): {fixture.TrainingSeconds:F1} s");
        using var bundle = ModelBundle.Load(fixture.BundleDirectory);
        var pipeline = new GenerationPipeline(bundle);
        var events = new List<GenerationProgress>();
        var progress = new SyncProgress<GenerationProgress>(events.Add);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var first = await pipeline.GenerateAsync(new GenerationRequest([Prompt], Seed: 7), progress);
        output.WriteLine($"generate one tiny volume: {stopwatch.Elapsed.TotalSeconds:F1} s");
        // A cohort (two prompts, other SR batch size) from the same seed: its first volume is the one above.
        var cohort = await pipeline.GenerateAsync(new GenerationRequest([Prompt, "50 years old male: No acute findings."], Seed: 7) { SlicesPerBatch = 3 });
        var other = await pipeline.GenerateAsync(new GenerationRequest([Prompt], Seed: 8) { SlicesPerBatch = 9 });

        var v = first[0].Volume;
        var config = GenerationConfig.Tiny;
        Assert.Equal((config.Frames, 64, 64), (v.Depth, v.Height, v.Width));
        Assert.Equal((config.Frames, 32, 32), (first[0].LowResolution.Depth, first[0].LowResolution.Height, first[0].LowResolution.Width));
        Assert.Equal(config.Spacing.Z, v.Spacing.Z, 6);
        Assert.All(v.Voxels, x => Assert.InRange(x, -1000f, 1000f));
        Assert.True(v.Voxels.Max() - v.Voxels.Min() > 100, "a generated volume is not a constant image");
        Assert.Equal(2, cohort.Count);
        Assert.NotEqual(cohort[0].Seed, cohort[1].Seed);
        // Same seed, in a cohort, other SR batch size: the same volume up to float rounding of batched kernels.
        Assert.True(v.Voxels.Zip(cohort[0].Volume.Voxels).Max(p => Math.Abs(p.First - p.Second)) < 0.05f, "cohort volume differs from the single one");
        var repeat = await pipeline.GenerateAsync(new GenerationRequest([Prompt], Seed: 7));
        Assert.Equal(v.Voxels, repeat[0].Volume.Voxels);             // same seed, same batching: bit-identical
        Assert.NotEqual(v.Voxels, other[0].Volume.Voxels);

        Assert.Contains(events, e => e.Stage == GenerationStage.Tokens && e.Step == 18 && e.Steps == 18);
        Assert.Contains(events, e => e.Stage == GenerationStage.SuperResolution && e.Step == config.Frames && e.Steps == config.Frames);
        Assert.Equal(
            [GenerationStage.Text, GenerationStage.Tokens, GenerationStage.Decode, GenerationStage.SuperResolution],
            events.Select(e => e.Stage).Distinct());
    }

    [Fact]
    public async Task Cancellation_stops_generation()
    {
        using var bundle = ModelBundle.Load(fixture.BundleDirectory);
        var pipeline = new GenerationPipeline(bundle);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress<GenerationProgress>(p =>
        {
            if (p.Stage == GenerationStage.Tokens && p.Step == 3)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipeline.GenerateAsync(new GenerationRequest([Prompt], 1), progress, cts.Token));
    }

    [Theory]
    [InlineData("", PromptProblem.Empty, "empty")]
    [InlineData("   ", PromptProblem.Empty, "empty")]
    [InlineData("64 years old female:\u0007 Cardiomegaly.", PromptProblem.NotText, "U+0007")]
    [InlineData("64 years old \uFFFD female", PromptProblem.NotText, "U+FFFD")]
    public void Unusable_prompts_are_refused_with_the_reason(string prompt, PromptProblem problem, string mentioned)
    {
        using var bundle = ModelBundle.Load(fixture.BundleDirectory);
        var pipeline = new GenerationPipeline(bundle);
        var e = Assert.Throws<InvalidPromptException>(() => pipeline.ValidatePrompts([Prompt, prompt]));
        Assert.Equal(problem, e.Problem);
        Assert.Equal(1, e.PromptIndex);
        Assert.Contains(mentioned, e.Message, StringComparison.Ordinal);
        Assert.Contains("prompt 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prompt_with_a_lone_surrogate_is_not_text()
    {
        using var bundle = ModelBundle.Load(fixture.BundleDirectory);
        var prompt = "64 years old " + new string((char)0xD800, 1) + " female";
        var e = Assert.Throws<InvalidPromptException>(() => new GenerationPipeline(bundle).ValidatePrompts([prompt]));
        Assert.Equal(PromptProblem.NotText, e.Problem);
        Assert.Contains("U+D800", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_over_long_prompt_is_refused_with_its_token_count_not_truncated()
    {
        using var bundle = ModelBundle.Load(fixture.BundleDirectory);
        var pipeline = new GenerationPipeline(bundle);
        var longPrompt = "64 years old female: " + string.Concat(Enumerable.Repeat("Bilateral pleural effusion. ", 60));
        var e = await Assert.ThrowsAsync<InvalidPromptException>(() => pipeline.GenerateAsync(new GenerationRequest([longPrompt], 1)));
        Assert.Equal(PromptProblem.TooLong, e.Problem);
        Assert.Contains("at most 256", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void Manifest_lists_every_stage_with_config_file_and_hash_and_documents_the_seeded_text_encoder()
    {
        var manifest = ModelBundle.ReadManifest(fixture.BundleDirectory);
        Assert.Equal("tiny", manifest.Pipeline);
        Assert.Equal(["ctvit", "maskgit", "superres", "text-encoder"], manifest.Components.Select(c => c.Stage));
        Assert.All(manifest.Components, c => Assert.Matches("^[0-9a-f]{64}$", c.Sha256));
        Assert.Contains(manifest.Notes, n => n.Contains("seeded", StringComparison.Ordinal) && n.Contains("spm_tiny.model", StringComparison.Ordinal));
        var checks = ModelBundle.Verify(fixture.BundleDirectory);
        Assert.Equal(4, checks.Count);
        foreach (var c in checks)
        {
            output.WriteLine($"{c.Component.Stage}: {c.Keys}");
        }
    }

    [Fact]
    public void A_missing_file_is_reported_by_name()
    {
        var copy = CopyBundle("missing");
        File.Delete(Path.Combine(copy, "maskgit.gct"));
        var e = Assert.Throws<ModelBundleException>(() => ModelBundle.Load(copy));
        Assert.Contains("maskgit.gct is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_changed_file_fails_its_hash_check()
    {
        var copy = CopyBundle("hash");
        var path = Path.Combine(copy, "superres-1.gct");
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelBundleException>(() => ModelBundle.Load(copy));
        Assert.Contains("superres weights", e.Message, StringComparison.Ordinal);
        Assert.Contains("hash check", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Weights_with_missing_keys_are_refused_even_with_a_matching_hash()
    {
        var copy = CopyBundle("keys");
        using (var maskgit = new MaskGit.MaskGit(GenerationConfig.Tiny.MaskGit))
        {
            // A checkpoint written without the transformer's layers, re-hashed: the hash passes, the keys must not.
            var component = ModelBundle.SaveStage(copy, ModelStage.MaskGit, "tiny", "maskgit.gct", maskgit, "test", excludeKeys: k => k.StartsWith("transformer.layers.1.", StringComparison.Ordinal));
            var manifest = ModelBundle.ReadManifest(copy);
            ModelBundle.WriteManifest(copy, manifest with { Components = [.. manifest.Components.Select(c => c.Stage == "maskgit" ? component : c)] });
        }

        var e = Assert.Throws<ModelBundleException>(() => ModelBundle.Load(copy));
        Assert.Contains("missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("transformer.layers.1.", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void A_directory_without_manifest_is_not_a_bundle()
    {
        var e = Assert.Throws<ModelBundleException>(() => ModelBundle.Load(fixture.Directory));
        Assert.Contains("manifest.json is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checkpoints_in_the_published_layout_import_into_a_bundle_that_verifies_loads_with_identical_weights_and_runs()
    {
        // Lay the trained tiny weights out as the published files are laid out (docs/porting-guide.md):
        // ctvit_pretrained.pt flat; transformer_pretrained.pt = ctvit.* + maskgit.*; superres_pretrained.pt = {"model": unets.0.dummy_parameter + unets.1.*}.
        var released = Path.Combine(fixture.Directory, "released");
        Directory.CreateDirectory(released);
        using (var bundle = ModelBundle.Load(fixture.BundleDirectory))
        {
            bundle.CtVit.save_py(Path.Combine(released, "ctvit_pretrained.pt"));
            var transformer = new Hashtable();
            foreach (var (k, t) in bundle.CtVit.state_dict())
            {
                transformer["ctvit." + k] = t;
            }

            foreach (var (k, t) in bundle.MaskGit.state_dict())
            {
                transformer["maskgit." + k] = t;
            }

            using (var s = File.Create(Path.Combine(released, "transformer_pretrained.pt")))
            {
                PyTorchPickler.PickleStateDict(s, transformer);
            }

            var model = new Hashtable { ["unets.0.dummy_parameter"] = zeros(1) };
            foreach (var (k, t) in bundle.SuperRes[0].state_dict())
            {
                model["unets.1." + k] = t;
            }

            using (var s = File.Create(Path.Combine(released, "superres_pretrained.pt")))
            {
                PyTorchPickler.PickleStateDict(s, new Hashtable { ["model"] = model });
            }
        }

        var imported = Path.Combine(fixture.Directory, "imported");
        var (manifest, reports) = ReleasedImport.Import(
            GenerationConfig.Tiny,
            Path.Combine(released, "ctvit_pretrained.pt"),
            Path.Combine(released, "transformer_pretrained.pt"),
            Path.Combine(released, "superres_pretrained.pt"),
            Path.Combine(fixture.BundleDirectory, "text-encoder"),
            imported);
        foreach (var r in reports)
        {
            output.WriteLine($"{r.Stage} ← {Path.GetFileName(r.File)}: {r.Keys}");
            Assert.True(r.Keys.IsExact, r.Keys.ToString());
        }

        Assert.Equal(4, manifest.Components.Count);
        Assert.Equal(4, ModelBundle.Verify(imported).Count);

        using var original = ModelBundle.Load(fixture.BundleDirectory);
        using var copy = ModelBundle.Load(imported);
        foreach (var (a, b) in new (nn.Module, nn.Module)[] { (original.CtVit, copy.CtVit), (original.MaskGit, copy.MaskGit), (original.SuperRes[0], copy.SuperRes[0]) })
        {
            var sa = a.state_dict();
            var sb = b.state_dict();
            Assert.Equal(sa.Keys.Order(), sb.Keys.Order());
            Assert.All(sa, kv => Assert.True(kv.Value.eq(sb[kv.Key]).all().item<bool>(), kv.Key));
        }

        // And the imported bundle generates (the first SR batch is enough to show it runs end to end).
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress<GenerationProgress>(p =>
        {
            if (p.Stage == GenerationStage.SuperResolution && p.Step > 0)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new GenerationPipeline(copy).GenerateAsync(new GenerationRequest([Prompt], 5) { SlicesPerBatch = 1 }, progress, cts.Token));
    }

    [Fact]
    public void A_released_file_with_foreign_keys_is_refused_with_the_key_report()
    {
        var released = Path.Combine(fixture.Directory, "foreign");
        Directory.CreateDirectory(released);
        using var maskgit = new MaskGit.MaskGit(GenerationConfig.Tiny.MaskGit);
        maskgit.save_py(Path.Combine(released, "ctvit.pt")); // a MaskGit state dict passed as CT-ViT
        var e = Assert.Throws<ModelBundleException>(() => ReleasedImport.Import(
            GenerationConfig.Tiny,
            Path.Combine(released, "ctvit.pt"),
            Path.Combine(released, "ctvit.pt"),
            Path.Combine(released, "ctvit.pt"),
            Path.Combine(fixture.BundleDirectory, "text-encoder"),
            Path.Combine(released, "out")));
        Assert.Contains("missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected", e.Message, StringComparison.Ordinal);
    }

    private string CopyBundle(string name)
    {
        var target = Path.Combine(fixture.Directory, "copy-" + name);
        foreach (var file in Directory.EnumerateFiles(fixture.BundleDirectory, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(fixture.BundleDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }

        return target;
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
