using System.Text.Json;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Tests.Fixtures;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class SuperResKeyParityTests(ITestOutputHelper output)
{
    private static List<(string Key, long[] Shape)> PaperEntries(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(ReferenceFixture.PathOf(file)));
        return doc.RootElement.GetProperty("entries").EnumerateArray()
            .Select(e => (e[0].GetString()!, e[1].EnumerateArray().Select(d => d.GetInt64()).ToArray()))
            .ToList();
    }

    private void AssertSameEntries(List<(string Key, long[] Shape)> expected, List<(string Key, long[] Shape)> actual)
    {
        var missing = expected.Select(e => e.Key).Except(actual.Select(a => a.Key)).ToList();
        var extra = actual.Select(a => a.Key).Except(expected.Select(e => e.Key)).ToList();
        output.WriteLine($"expected {expected.Count} entries, got {actual.Count}; missing {missing.Count}, extra {extra.Count}");
        foreach (var k in missing.Take(20))
        {
            output.WriteLine("missing " + k);
        }

        foreach (var k in extra.Take(20))
        {
            output.WriteLine("extra   " + k);
        }

        Assert.Empty(missing);
        Assert.Empty(extra);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, actual[i].Key);
            Assert.True(expected[i].Shape.SequenceEqual(actual[i].Shape), $"{expected[i].Key}: expected [{string.Join(",", expected[i].Shape)}], got [{string.Join(",", actual[i].Shape)}]");
        }
    }

    [Fact]
    public void Paper_unet_has_the_released_state_dict_entry_for_entry()
    {
        using var scope = NewDisposeScope();
        using var unet = new SuperResUnet(SuperResUnetConfig.Paper);
        var actual = unet.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToList();
        AssertSameEntries(PaperEntries("superres_unet_paper_keys.json"), actual);
        var count = unet.parameters().Sum(p => p.numel());
        output.WriteLine($"paper SR Unet parameters: {count:N0}");
        Assert.Equal(22_190_440, count);
    }

    [Fact]
    public void Superres_wrapper_has_the_released_checkpoint_layout_with_the_null_unet()
    {
        using var scope = NewDisposeScope();
        using var model = new Superres(SuperResUnetConfig.Paper);
        var actual = model.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToList();
        AssertSameEntries(PaperEntries("superres_paper_keys.json"), actual);
        Assert.Equal("unets.0.dummy_parameter", actual[0].Key);
        Assert.Equal(22_190_441, model.parameters().Sum(p => p.numel()));
    }
}
