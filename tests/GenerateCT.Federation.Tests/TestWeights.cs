using GenerateCT.Federation.Weights;

namespace GenerateCT.Federation.Tests;

/// <summary>Small weight sets for the specifications.</summary>
internal static class TestWeights
{
    public static WeightTensor Tensor(string name, long[] shape, params float[] data) => new(name, shape, data);

    /// <summary>Tensors of the given shapes filled with distinct, reproducible values.</summary>
    public static WeightSet Random(int seed, params (string Name, long[] Shape)[] layout)
    {
        var random = new Random(seed);
        return new WeightSet(layout.Select(t =>
        {
            var data = new float[t.Shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (float)((random.NextDouble() * 2) - 1);
            }

            return new WeightTensor(t.Name, t.Shape, data);
        }));
    }

    /// <summary>A small model-like layout: a large tensor that spans several chunks, a bias, an empty tensor and a scalar.</summary>
    public static WeightSet Model(int seed) => Random(
        seed,
        ("transformer.layers.0.0.to_q.weight", [64, 48]),
        ("transformer.layers.0.0.to_q.bias", [64]),
        ("transformer.null_embed", [0, 8]),
        ("transformer.scale", []));
}
