using System.Collections;
using System.Text.Json;
using GenerateCT.Testing;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests.Fixtures;

/// <summary>
/// One of the seeded numerical fixtures in tests/fixtures/reference (written by torch.save from the
/// original PyTorch code): a flat dictionary of named tensors (`input*`, `out.*`, `state.*`) plus its
/// JSON config. See tests/fixtures/reference/README.md.
/// </summary>
public sealed class ReferenceFixture : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    private ReferenceFixture(Dictionary<string, Tensor> tensors, JsonDocument? config)
    {
        _tensors = tensors;
        Config = config;
    }

    public JsonDocument? Config { get; }

    public IReadOnlyDictionary<string, Tensor> Tensors => _tensors;

    public Tensor this[string key] => _tensors.TryGetValue(key, out var t)
        ? t
        : throw new KeyNotFoundException($"fixture has no tensor '{key}'");

    /// <summary>The `state.*` entries with the prefix removed: a state dict for load_state_dict.</summary>
    public Dictionary<string, Tensor> State() => _tensors
        .Where(kv => kv.Key.StartsWith("state.", StringComparison.Ordinal))
        .ToDictionary(kv => kv.Key["state.".Length..], kv => kv.Value);

    /// <summary>The folder holding the reference files (tests/fixtures/reference of the checkout).</summary>
    public static string ReferenceDirectory => ReferenceFixtures.Directory;

    public static string PathOf(string fileName) => ReferenceFixtures.PathOf(fileName);

    /// <summary>Loads e.g. "ctvit_tiny" (reads ctvit_tiny.pt and, if present, ctvit_tiny_config.json).</summary>
    public static ReferenceFixture Load(string name)
    {
        using var stream = File.OpenRead(PathOf(name + ".pt"));
        var raw = PyTorchUnpickler.UnpickleStateDict(stream);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in raw)
        {
            tensors[(string)e.Key] = (Tensor)e.Value!;
        }

        var configPath = PathOf(name + "_config.json");
        var config = File.Exists(configPath) ? JsonDocument.Parse(File.ReadAllText(configPath)) : null;
        return new ReferenceFixture(tensors, config);
    }

    /// <summary>Max |a − b| over all elements (shapes must agree).</summary>
    public static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var d = (actual.to(float64) - expected.to(float64)).abs().max();
        return d.item<double>();
    }

    public void Dispose()
    {
        foreach (var t in _tensors.Values)
        {
            t.Dispose();
        }

        Config?.Dispose();
    }
}
