using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.Tests.Fixtures;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public sealed class CheckpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gct-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CtVit.CtVit TrainedTinyModel()
    {
        manual_seed(5);
        var model = new CtVit.CtVit(CtVitConfig.Tiny);
        // One training-mode pass moves the EMA codebook buffers away from their initial values.
        model.train();
        using (var scope = NewDisposeScope())
        {
            using var _ = model.forward(rand([2, 1, 5, 32, 32]) * 2 - 1);
        }

        model.eval();
        return model;
    }

    [Fact]
    public void Saved_checkpoint_loads_into_a_fresh_model_and_gives_identical_outputs()
    {
        using var scope = NewDisposeScope();
        using var model = TrainedTinyModel();
        var path = Path.Combine(_dir, "tiny.gct");
        ModelCheckpoint.Save(path, model, new CheckpointInfo { Stage = "ctvit", Config = "tiny", Step = 7 });

        manual_seed(99);
        using var restored = new CtVit.CtVit(CtVitConfig.Tiny);
        var report = ReferenceWeights.Load(restored, path);
        restored.eval();

        using var checkpoint = ModelCheckpoint.Read(path);
        Assert.Equal(("ctvit", "tiny", 7L), (checkpoint.Info.Stage, checkpoint.Info.Config, checkpoint.Info.Step));
        Assert.True(report.IsExact, report.ToString());
        Assert.Equal(161, report.Matched);

        using var noGrad = no_grad();
        var volume = rand([1, 1, 9, 32, 32]) * 2 - 1;
        var a = model.Reconstruct(volume);
        var b = restored.Reconstruct(volume);
        Assert.Equal(0f, (a - b).abs().max().item<float>());
        Assert.Equal(0L, model.EncodeToIndices(volume).ne(restored.EncodeToIndices(volume)).sum().item<long>());
    }

    [Fact]
    public void PyTorch_zip_and_safetensors_files_load_by_name_including_zero_element_tensors()
    {
        using var scope = NewDisposeScope();
        using var model = TrainedTinyModel();
        var pt = Path.Combine(_dir, "tiny.pt");
        var st = Path.Combine(_dir, "tiny.safetensors");
        model.save_py(pt);
        model.save_safetensors(st);

        foreach (var path in new[] { pt, st })
        {
            var state = ReferenceWeights.ReadStateDict(path);
            Assert.Contains(state, kv => kv.Key.EndsWith(".null_kv", StringComparison.Ordinal) && kv.Value.numel() == 0);
            manual_seed(42);
            using var restored = new CtVit.CtVit(CtVitConfig.Tiny);
            var report = ReferenceWeights.Apply(restored, state, sourceName: path);
            output.WriteLine($"{Path.GetExtension(path)}: {ReferenceWeights.DetectFormat(path)} — {report}");
            Assert.True(report.IsExact);
            restored.eval();
            using var noGrad = no_grad();
            var volume = rand([1, 1, 5, 32, 32]);
            Assert.Equal(0f, (model.Reconstruct(volume) - restored.Reconstruct(volume)).abs().max().item<float>());
        }
    }

    [Fact]
    public void The_reference_fixture_state_loads_strictly_and_vgg_and_discr_keys_are_optional_only()
    {
        using var fixture = ReferenceFixture.Load("ctvit_tiny");
        using var scope = NewDisposeScope();
        var state = new Dictionary<string, Tensor>(fixture.State())
        {
            ["vgg.features.0.weight"] = zeros(64, 3, 3, 3),
            ["discr.to_logits.3.bias"] = zeros(1),
        };
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);

        var strict = Assert.Throws<CheckpointKeyMismatchException>(() => ReferenceWeights.Apply(model, state));
        Assert.Contains("vgg.features.0.weight", strict.Message);
        Assert.Equal(2, strict.Report.Unexpected.Count);

        var report = ReferenceWeights.Apply(model, state, CtVit.CtVit.IsLossNetworkKey);
        output.WriteLine(report.ToString());
        Assert.Equal(161, report.Matched);
        Assert.Equal(["vgg.features.0.weight", "discr.to_logits.3.bias"], report.SkippedOptional.OrderByDescending(k => k).ToArray());
    }

    [Fact]
    public void A_checkpoint_missing_a_key_is_refused_and_the_key_is_named()
    {
        using var scope = NewDisposeScope();
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var path = Path.Combine(_dir, "partial.gct");
        const string dropped = "enc_temporal_transformer.layers.1.1.to_kv.weight";
        ModelCheckpoint.Save(path, model, new CheckpointInfo { Stage = "ctvit", Config = "tiny" }, excludeKeys: k => k == dropped);

        using var fresh = new CtVit.CtVit(CtVitConfig.Tiny);
        var ex = Assert.Throws<CheckpointKeyMismatchException>(() => ReferenceWeights.Load(fresh, path));
        output.WriteLine(ex.Message);
        Assert.Equal([dropped], ex.Report.Missing);
        Assert.Contains(dropped, ex.Message);
    }

    [Fact]
    public void A_checkpoint_with_a_wrong_shape_names_the_key_and_both_shapes()
    {
        using var scope = NewDisposeScope();
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        state["to_pixels.0.weight"] = zeros(64, 32);
        var ex = Assert.Throws<CheckpointKeyMismatchException>(() => ReferenceWeights.Apply(model, state));
        var mismatch = Assert.Single(ex.Report.ShapeMismatched);
        Assert.Equal("to_pixels.0.weight", mismatch.Key);
        Assert.Equal(new long[] { 128, 32 }, mismatch.ModelShape);
        Assert.Equal(new long[] { 64, 32 }, mismatch.CheckpointShape);
    }

    [Fact]
    public void A_truncated_checkpoint_gives_a_clear_error()
    {
        using var scope = NewDisposeScope();
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var path = Path.Combine(_dir, "full.gct");
        ModelCheckpoint.Save(path, model, new CheckpointInfo { Stage = "ctvit", Config = "tiny" });
        var bytes = File.ReadAllBytes(path);
        foreach (var keep in new[] { bytes.Length / 2, bytes.Length - 20, 40 })
        {
            var truncated = Path.Combine(_dir, $"truncated-{keep}.gct");
            File.WriteAllBytes(truncated, bytes[..keep]);
            using var fresh = new CtVit.CtVit(CtVitConfig.Tiny);
            var ex = Assert.Throws<CheckpointFormatException>(() => ReferenceWeights.Load(fresh, truncated));
            output.WriteLine(ex.Message);
            Assert.Contains(truncated, ex.Message);
            Assert.Matches("truncated|corrupt", ex.Message);
        }

        var zip = Path.Combine(_dir, "model.pt");
        model.save_py(zip);
        var zipBytes = File.ReadAllBytes(zip);
        var truncatedZip = Path.Combine(_dir, "truncated.pt");
        File.WriteAllBytes(truncatedZip, zipBytes[..(zipBytes.Length / 2)]);
        var zipError = Assert.Throws<CheckpointFormatException>(() => ReferenceWeights.ReadStateDict(truncatedZip));
        output.WriteLine(zipError.Message);
        Assert.Contains("PyTorchZip", zipError.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_checkpoint_is_refused_with_what_was_expected()
    {
        var path = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(path, "this is a report, not a model");
        var ex = Assert.Throws<CheckpointFormatException>(() => ReferenceWeights.ReadStateDict(path));
        Assert.Contains("is not a checkpoint", ex.Message);
        Assert.Contains("safetensors", ex.Message);
        Assert.Throws<FileNotFoundException>(() => ReferenceWeights.ReadStateDict(Path.Combine(_dir, "absent.pt")));
    }
}
