using System.Text.Json;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.CtVit;
using GenerateCT.Model.Tests.Fixtures;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class CtVitParityTests(ITestOutputHelper output)
{
    [Fact]
    public void Paper_config_state_dict_equals_the_released_key_list_entry_for_entry()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(ReferenceFixture.PathOf("ctvit_paper_keys.json")));
        var root = json.RootElement;
        var expected = root.GetProperty("entries").EnumerateArray()
            .Select(e => $"{e[0].GetString()} [{string.Join(", ", e[1].EnumerateArray().Select(s => s.GetInt64()))}] {e[2].GetString()}")
            .ToList();

        using var scope = NewDisposeScope();
        using var model = new CtVit.CtVit(CtVitConfig.Paper);
        var actual = StateDictLayout.Entries(model).Select(e => e.ToString()).ToList();

        var missing = expected.Except(actual).ToList();
        var extra = actual.Except(expected).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"missing: {string.Join("; ", missing.Take(10))} | unexpected: {string.Join("; ", extra.Take(10))}");
        Assert.Equal(expected, actual); // same order too
        Assert.Equal(root.GetProperty("num_state_dict_entries").GetInt32(), actual.Count);

        long total = StateDictLayout.ParameterCount(model);
        long autoencoder = StateDictLayout.ParameterCount(model, k => !CtVit.CtVit.IsLossNetworkKey(k));
        output.WriteLine($"parameters: total {total:N0}, autoencoder {autoencoder:N0}");
        Assert.Equal(root.GetProperty("num_parameters").GetInt64(), total);
        Assert.Equal(43_260_168, autoencoder);
        var byPrefix = root.GetProperty("num_parameters_by_top_level_prefix");
        Assert.Equal(byPrefix.GetProperty("vgg").GetInt64(), StateDictLayout.ParameterCount(model, k => k.StartsWith("vgg.", StringComparison.Ordinal)));
        Assert.Equal(byPrefix.GetProperty("discr").GetInt64(), StateDictLayout.ParameterCount(model, k => k.StartsWith("discr.", StringComparison.Ordinal)));

        var buffers = root.GetProperty("persistent_buffer_keys").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        var ourBuffers = model.named_buffers(include_nonpersistent: false).Select(b => b.name).ToHashSet();
        Assert.True(buffers.SetEquals(ourBuffers), "persistent buffers differ: " + string.Join(", ", buffers.Except(ourBuffers).Concat(ourBuffers.Except(buffers))));
    }

    [Fact]
    public void Tiny_model_with_the_fixture_weights_reproduces_every_reference_tensor()
    {
        using var fixture = ReferenceFixture.Load("ctvit_tiny");
        using var scope = NewDisposeScope();
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        Assert.Equal(104_386, StateDictLayout.ParameterCount(model));
        var report = ReferenceWeights.Apply(model, fixture.State(), CtVit.CtVit.IsLossNetworkKey);
        Assert.True(report.IsExact, report.ToString());
        model.eval();
        using var noGrad = no_grad();

        var traced = new Dictionary<string, Tensor>();
        var input = fixture["input"];
        using var result = model.forward(input, (name, t) => traced[name] = t.detach().clone().DetachFromDisposeScope());
        traced["recon_from_indices"] = model.DecodeFromCodebookIndices(fixture["out.indices"]);
        traced["forward_recon"] = model.Reconstruct(input);
        var indicesOnly = model.EncodeToIndices(input);

        var outKeys = fixture.Tensors.Keys.Where(k => k.StartsWith("out.", StringComparison.Ordinal)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(16, outKeys.Count);
        double worst = 0;
        foreach (var key in outKeys)
        {
            var name = key["out.".Length..];
            Assert.True(traced.ContainsKey(name), $"no traced tensor for {key}");
            var expected = fixture[key];
            var actual = traced[name];
            if (expected.dtype == ScalarType.Int64)
            {
                Assert.Equal(expected.shape, actual.shape);
                long differing = actual.ne(expected).sum().item<long>();
                output.WriteLine($"{key,-28} {differing} of {expected.numel()} indices differ");
                Assert.Equal(0, differing);
                continue;
            }

            double err = ReferenceFixture.MaxAbsDiff(actual, expected);
            worst = Math.Max(worst, err);
            output.WriteLine($"{key,-28} max |Δ| = {err:E2}");
            Assert.True(err <= 1e-4, $"{key}: max abs error {err:E3} > 1e-4");
        }

        Assert.Equal(0L, indicesOnly.ne(fixture["out.indices"]).sum().item<long>());
        output.WriteLine($"worst max |Δ| over all float outputs: {worst:E2}");
    }
}
