using System.Text.Json;

namespace GenerateCT.Cli.Tests;

public sealed class FederationBenchmarkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gct-bench-fed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_aggregate_benchmark_reports_streaming_and_all_in_memory_aggregation_of_the_same_updates()
    {
        var file = Path.Combine(_dir, "aggregate.json");
        var work = Path.Combine(_dir, "work");
        int code = await Program.BuildRoot().Parse(["bench", "aggregate", "--config", "tiny", "--updates", "3", "--parameters", "0", "--repeat", "1", "--work-dir", work, "--out", file]).InvokeAsync();

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(file));
        var root = json.RootElement;
        Assert.Equal("aggregate", root.GetProperty("benchmark").GetString());
        Assert.Equal(3, root.GetProperty("updates").GetInt32());
        long parameters = root.GetProperty("parameters").GetInt64();
        Assert.True(parameters > 0);
        Assert.Equal(parameters, root.GetProperty("maskgit_parameters").GetInt64());
        Assert.Equal(parameters * 4, root.GetProperty("model_bytes").GetInt64());
        foreach (var peer in new[] { "ours", "naive_all_in_memory" })
        {
            Assert.True(root.GetProperty(peer).GetProperty("seconds").GetDouble() > 0);
            Assert.True(root.GetProperty(peer).GetProperty("peak_memory_over_model").GetDouble() >= 0);
        }

        Assert.True(root.GetProperty("ratio_seconds_ours_over_naive").GetDouble() > 0);
        Assert.True(root.GetProperty("max_abs_difference_first_values").GetDouble() < 1e-5); // both computed the same mean
        Assert.Equal(2.0, root.GetProperty("goal_seconds").GetDouble());
        Assert.Equal(3.0, root.GetProperty("goal_peak_memory_over_model").GetDouble());
        Assert.Equal(4, Directory.GetFiles(work, "*.gctw").Length); // the base and 3 updates
    }

    [Fact]
    public async Task The_upload_benchmark_reports_the_codec_and_a_plain_byte_stream_over_the_same_tls_channel()
    {
        var file = Path.Combine(_dir, "upload.json");
        int code = await Program.BuildRoot().Parse(["bench", "upload", "--megabytes", "2", "--chunk-bytes", "262144", "--repeat", "1", "--out", file]).InvokeAsync();

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(file));
        var root = json.RootElement;
        Assert.Equal("upload", root.GetProperty("benchmark").GetString());
        Assert.InRange(root.GetProperty("bytes").GetInt64(), 2L * 1024 * 1024, (2L * 1024 * 1024) + 8192);
        Assert.True(root.GetProperty("messages").GetInt32() >= 8);
        Assert.True(root.GetProperty("ours").GetProperty("seconds_best").GetDouble() > 0);
        Assert.True(root.GetProperty("plain_grpc_byte_stream").GetProperty("mib_per_s_best").GetDouble() > 0);
        Assert.True(root.GetProperty("ratio_ours_over_plain_throughput").GetDouble() > 0);
        Assert.Equal(0.7, root.GetProperty("goal_ratio").GetDouble());
        Assert.Contains("TLS", root.GetProperty("transport").GetString(), StringComparison.Ordinal);
    }
}
