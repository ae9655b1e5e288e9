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

    [Fact]
    public void A_released_layout_state_loads_strictly_into_the_unet_after_removing_the_wrapper_prefix()
    {
        using var scope = NewDisposeScope();
        using var f = ReferenceFixture.Load("superres_unet_tiny");
        var released = f.State().ToDictionary(kv => Superres.UnetKeyPrefix + kv.Key, kv => kv.Value);
        released["unets.0.dummy_parameter"] = zeros(1);
        using var wrapper = new Superres(SuperResUnetConfig.Tiny);
        wrapper.load_state_dict(released, strict: true);
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        unet.load_state_dict(Superres.UnetStateFromReleased(released), strict: true);
        var a = wrapper.Unet.state_dict();
        Assert.All(unet.state_dict(), kv => Assert.True(kv.Value.allclose(a[kv.Key], 0, 0)));
    }

    [Fact]
    public void A_fresh_unet_starts_from_torch_initialisation_with_unit_gain_group_norms()
    {
        using var scope = NewDisposeScope();
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        var norms = unet.named_parameters().Where(p => p.name.Contains(".groupnorm.")).ToList();
        Assert.NotEmpty(norms);
        Assert.All(norms, p => Assert.Equal(p.name.EndsWith(".weight") ? 1f : 0f, p.parameter.abs().max().item<float>()));
        Assert.All(unet.parameters(), p => Assert.True(p.isfinite().all().item<bool>() && p.abs().max().item<float>() < 100));
    }
}
