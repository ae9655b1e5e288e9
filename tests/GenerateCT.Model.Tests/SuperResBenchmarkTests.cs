using System.Text.Json;
using GenerateCT.Model.SuperRes;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class SuperResBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    public void Tiny_benchmark_reports_per_slice_and_extrapolated_per_volume_figures_as_json()
    {
        var result = SuperResBenchmark.Run("tiny", slices: 2, steps: 2, slicesPerBatch: 0, CPU);
        output.WriteLine(result.ToJson());
        Assert.Equal(2, result.SlicesPerBatch);
        Assert.True(result.SecondsPerSlice > 0 && result.OneSliceAtATimeSecondsPerSlice > 0);
        Assert.True(result.Extrapolated);
        Assert.Equal(result.SecondsPerSlice * 25 / 2 * 201, result.SecondsPerVolume, 6);
        Assert.Contains("extrapolated", result.Note);
        Assert.True(result.PeakWorkingSetBytes > 0);
        using var json = JsonDocument.Parse(result.ToJson());
        Assert.Equal("superres", json.RootElement.GetProperty("stage").GetString());
        Assert.Equal(32, json.RootElement.GetProperty("high_res_size").GetInt32());
        Assert.StartsWith("cpu", json.RootElement.GetProperty("device").GetString());
    }
}
