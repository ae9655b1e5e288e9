using System.Text;

namespace GenerateCT.Federation.Weights;

/// <summary>One named float32 tensor: its state-dict key, shape and row-major values.</summary>
public sealed class WeightTensor
{
    private readonly long[] _shape;

    /// <param name="name">State-dict key, e.g. <c>transformer.layers.0.0.to_q.weight</c>.</param>
    /// <param name="shape">Dimensions; their product must equal <paramref name="data"/>'s length.</param>
    /// <param name="data">Row-major values; the tensor keeps this array (no copy).</param>
    public WeightTensor(string name, IReadOnlyList<long> shape, float[] data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(data);
        if (Encoding.UTF8.GetByteCount(name) > WeightFileFormat.MaxNameBytes)
        {
            throw new ArgumentException($"tensor name is longer than {WeightFileFormat.MaxNameBytes} UTF-8 bytes: '{name[..64]}…'", nameof(name));
        }

        _shape = WeightLayout.CheckShape(name, shape);
        if (WeightLayout.ElementsOf(_shape) != data.Length)
        {
            throw new ArgumentException($"tensor '{name}' has shape [{string.Join(", ", _shape)}] ({WeightLayout.ElementsOf(_shape)} elements) but {data.Length} values", nameof(data));
        }

        Name = name;
        Data = data;
    }

    public string Name { get; }

    public IReadOnlyList<long> Shape => _shape;

    /// <summary>The values, row-major. Shared, not copied: do not change them while a transfer reads them.</summary>
    public float[] Data { get; }

    internal long[] ShapeArray => _shape;
}
