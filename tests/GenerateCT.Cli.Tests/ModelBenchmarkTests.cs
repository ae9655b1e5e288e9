using System.Text.Json;

namespace GenerateCT.Cli.Tests;

public sealed class ModelBenchmarkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gct-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Ctvit_benchmark_without_a_reference_reports_our_times_and_says_the_reference_was_not_measured()
    {
        var file = Path.Combine(_dir, "bench.json");
        int code = await Program.BuildRoot().Parse(["bench", "model", "--stage", "ctvit", "--config", "tiny", "--device", "cpu", "--iterations", "1", "--threads", "1", "--out", file]).InvokeAsync();

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(file));
        var root = json.RootElement;
        Assert.Equal("tiny", root.GetProperty("config").GetString());
        Assert.Equal(1, root.GetProperty("threads").GetInt32());
        Assert.Equal("3x4x4", root.GetProperty("token_grid").GetString());
        Assert.True(root.GetProperty("encode_ms_per_volume").GetDouble() > 0);
        Assert.True(root.GetProperty("decode_ms_per_volume").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("reference").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("ratio").ValueKind);
        Assert.Contains("not measured", root.GetProperty("reference_note").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ctvit_benchmark_with_a_folder_that_is_not_a_reference_checkout_fails_without_writing_a_report()
    {
        var file = Path.Combine(_dir, "bench.json");
        var notACheckout = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        int code = await Program.BuildRoot().Parse(
            ["bench", "model", "--stage", "ctvit", "--config", "tiny", "--device", "cpu", "--iterations", "1", "--threads", "1", "--reference", notACheckout, "--out", file]).InvokeAsync();

        Assert.Equal(2, code);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public async Task The_whole_chain_benchmark_reports_each_stage_and_their_sum_per_volume()
    {
        var file = Path.Combine(_dir, "all.json");
        int code = await Program.BuildRoot().Parse(["bench", "model", "--stage", "all", "--config", "tiny", "--device", "cpu", "--out", file]).InvokeAsync();

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(file));
        var root = json.RootElement;
        Assert.Equal("all", root.GetProperty("stage").GetString());
        double sr = root.GetProperty("superres_seconds_per_volume").GetDouble(), tokens = root.GetProperty("maskgit_seconds").GetDouble(), decode = root.GetProperty("decode_seconds").GetDouble();
        Assert.All(new[] { sr, tokens, decode }, t => Assert.True(t > 0));
        Assert.Equal(sr + tokens + decode, root.GetProperty("seconds_per_volume").GetDouble(), 6);
        Assert.False(root.GetProperty("extrapolated").GetBoolean());
        Assert.True(root.GetProperty("peak_working_set_bytes").GetInt64() > 0);
    }

    [Fact]
    public async Task A_superres_benchmark_on_fewer_slices_and_steps_extrapolates_and_says_so()
    {
        var file = Path.Combine(_dir, "sr.json");
        int code = await Program.BuildRoot().Parse(["bench", "model", "--stage", "superres", "--config", "tiny", "--device", "cpu", "--slices", "2", "--steps", "2", "--out", file]).InvokeAsync();

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(file));
        var root = json.RootElement;
        Assert.True(root.GetProperty("extrapolated").GetBoolean());
        Assert.Equal(2, root.GetProperty("superres_measured_slices").GetInt32());
        var perSlice = root.GetProperty("superres_seconds_per_slice").GetDouble();
        Assert.Equal(perSlice * root.GetProperty("frames").GetInt32(), root.GetProperty("superres_seconds_per_volume").GetDouble(), 6);
    }
}
