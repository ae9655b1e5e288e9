using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Text;
using GenerateCT.Testing;
using Xunit.Abstractions;

namespace GenerateCT.Cli.Tests;

/// <summary>
/// `gct phantom` → `gct train ctvit` → `gct train maskgit` (and `--resume`, `--token-critic`) →
/// `gct model inspect`, as a user runs them, with a tiny T5 bundle in Hugging Face layout written by the
/// same writer `gct train all` uses for its bundle's text encoder.
/// </summary>
public sealed partial class TrainMaskGitCommandTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private readonly string _dir = Scratch.NewDirectory("gct-train-maskgit");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A seeded tiny T5 v1.1 encoder (vocabulary of spm_tiny.model) in HF layout: config.json, spiece.model, model.safetensors.</summary>
    private static string WriteTinyTextEncoder(string directory)
    {
        TorchSharp.torch.manual_seed(31);
        using var encoder = new T5Encoder(T5Config.Tiny with { VocabSize = 400 });
        ModelBundle.WriteTextEncoder(directory, encoder, ReferenceFixtures.PathOf("spm_tiny.model"));
        return directory;
    }

    private async Task<Gct.Result> RunAsync(params string[] args)
    {
        var timer = Stopwatch.StartNew();
        var result = await Gct.RunAsync(Timeout, args);
        output.WriteLine($"$ gct {string.Join(' ', args)}  ({timer.Elapsed.TotalSeconds:F1} s, exit {result.ExitCode})\n{result.Output}");
        return result;
    }

    private async Task<JsonElement> InspectAsync(string checkpoint)
    {
        var inspect = await RunAsync("model", "inspect", checkpoint, "--json");
        Assert.True(inspect.ExitCode == 0, inspect.Output);
        using var doc = JsonDocument.Parse(inspect.Output[inspect.Output.IndexOf('{')..]);
        return doc.RootElement.Clone();
    }

    /// <summary>The phantom folder and a briefly trained tiny CT-ViT checkpoint.</summary>
    private async Task<(string Data, string CtVit)> PhantomsAndCtVitAsync()
    {
        var data = Path.Combine(_dir, "phantoms");
        var phantoms = await RunAsync("phantom", "--count", "4", "--slices", "9", "--size", "64", "--findings", "random", "--out", data);
        Assert.True(phantoms.ExitCode == 0, phantoms.Output);
        var ctvit = Path.Combine(_dir, "ctvit.ckpt");
        var train = await RunAsync("train", "ctvit", "--config", "tiny", "--data", data, "--steps", "2", "--out", ctvit, "--checkpoint-every", "0", "--device", "cpu");
        Assert.True(train.ExitCode == 0, train.Output);
        return (data, ctvit);
    }

    [GeneratedRegex(@"step (\d+): loss (\d+\.\d+), masked-token accuracy (\d+(\.\d+)?) ?%")]
    private static partial Regex FinalProgress();

    [Fact]
    public async Task Train_maskgit_on_phantoms_writes_an_inspectable_checkpoint_that_resumes_from_its_step()
    {
        var (data, ctvit) = await PhantomsAndCtVitAsync();
        var t5 = WriteTinyTextEncoder(Path.Combine(_dir, "t5-tiny"));
        var first = Path.Combine(_dir, "maskgit.ckpt");
        string[] common = ["train", "maskgit", "--config", "tiny", "--ctvit", ctvit, "--data", data, "--text-encoder", t5,
            "--warmup", "1", "--batch", "2", "--accumulate", "1", "--checkpoint-every", "0", "--device", "cpu"];

        var train = await RunAsync([.. common, "--steps", "3", "--out", first]);

        Assert.True(train.ExitCode == 0, train.Output);
        var progress = FinalProgress().Match(train.Output);
        Assert.True(progress.Success, $"no loss/accuracy progress line in:\n{train.Output}");
        Assert.Equal("3", progress.Groups[1].Value);
        Assert.InRange(double.Parse(progress.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), 0.01, 20);
        var report = await InspectAsync(first);
        Assert.Equal("maskgit", report.GetProperty("stage").GetString());
        Assert.Equal("tiny", report.GetProperty("config").GetString());
        Assert.Equal(3, report.GetProperty("step").GetInt64());

        var resumedPath = Path.Combine(_dir, "maskgit-resumed.ckpt");
        var resumed = await RunAsync([.. common, "--steps", "5", "--out", resumedPath, "--resume", first]);

        Assert.True(resumed.ExitCode == 0, resumed.Output);
        Assert.Contains("at step 3", resumed.Output, StringComparison.Ordinal);
        Assert.Equal("5", FinalProgress().Match(resumed.Output).Groups[1].Value);
        Assert.Equal(5, (await InspectAsync(resumedPath)).GetProperty("step").GetInt64());

        // The token critic is an option: its loss is reported and its weights are checkpointed as critic.*.
        var criticPath = Path.Combine(_dir, "maskgit-critic.ckpt");
        var critic = await RunAsync([.. common, "--steps", "2", "--out", criticPath, "--token-critic"]);

        Assert.True(critic.ExitCode == 0, critic.Output);
        Assert.Matches(@"critic loss \d+\.\d+", critic.Output);
        using (var checkpoint = ModelCheckpoint.Read(criticPath))
        {
            Assert.Contains(checkpoint.State.Keys, k => k.StartsWith("critic.", StringComparison.Ordinal));
        }

        using (var checkpoint = ModelCheckpoint.Read(first))
        {
            Assert.DoesNotContain(checkpoint.State.Keys, k => k.StartsWith("critic.", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Train_maskgit_with_a_text_encoder_bundle_missing_a_file_names_the_file()
    {
        var (data, ctvit) = await PhantomsAndCtVitAsync();
        var t5 = WriteTinyTextEncoder(Path.Combine(_dir, "t5-incomplete"));
        File.Delete(Path.Combine(t5, T5Bundle.TokenizerFile));

        var train = await RunAsync("train", "maskgit", "--config", "tiny", "--ctvit", ctvit, "--data", data, "--text-encoder", t5,
            "--steps", "1", "--out", Path.Combine(_dir, "never.ckpt"), "--device", "cpu");

        Assert.Equal(2, train.ExitCode);
        Assert.Contains("spiece.model is missing", train.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", train.Output, StringComparison.Ordinal); // one readable line, no stack trace
        Assert.False(File.Exists(Path.Combine(_dir, "never.ckpt")));
    }
}
