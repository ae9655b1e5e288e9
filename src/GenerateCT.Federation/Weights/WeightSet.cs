using System.Collections;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace GenerateCT.Federation.Weights;

/// <summary>
/// An ordered set of named float32 tensors: a global model version, a node's update (a delta against
/// the round's base version) or a server optimizer's state. The order is the state dict's.
/// </summary>
public sealed class WeightSet : IReadOnlyList<WeightTensor>
{
    private readonly WeightTensor[] _tensors;

    public WeightSet(IEnumerable<WeightTensor> tensors)
    {
        _tensors = [.. tensors];
        Layout = new WeightLayout(_tensors.Select(t => (t.Name, t.Shape)));
    }

    public WeightLayout Layout { get; }

    public int Count => _tensors.Length;

    public long ElementCount => Layout.ElementCount;

    /// <summary>Size of the values alone (what a transfer moves, before framing).</summary>
    public long ByteCount => Layout.ElementCount * sizeof(float);

    public WeightTensor this[int index] => _tensors[index];

    /// <exception cref="UnknownTensorException">no tensor has this name.</exception>
    public WeightTensor this[string name] =>
        Layout.IndexOf(name) is var i and >= 0 ? _tensors[i] : throw new UnknownTensorException($"no tensor '{name}' in this weight set");

    /// <summary>This minus <paramref name="baseWeights"/>, tensor by tensor: the update a node sends.</summary>
    /// <exception cref="FederationException">the layouts differ (names, order or shapes).</exception>
    public WeightSet DeltaFrom(WeightSet baseWeights) => Combine(baseWeights, "delta", subtract: true);

    /// <summary>This plus <paramref name="delta"/>, tensor by tensor: the weights a delta leads to.</summary>
    /// <exception cref="FederationException">the layouts differ (names, order or shapes).</exception>
    public WeightSet WithDelta(WeightSet delta) => Combine(delta, "delta", subtract: false);

    /// <summary>The content address of these weights: the version digest of their weights file, hex.</summary>
    public string ComputeVersionId()
    {
        using var digest = new VersionDigest();
        foreach (var t in _tensors)
        {
            digest.AddTensor(WeightFileFormat.TensorHeader(t.Name, t.ShapeArray), SHA256.HashData(MemoryMarshal.AsBytes(t.Data.AsSpan())));
        }

        return WeightFileFormat.Hex(digest.Finish());
    }

    public IEnumerator<WeightTensor> GetEnumerator() => ((IEnumerable<WeightTensor>)_tensors).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _tensors.GetEnumerator();

    private WeightSet Combine(WeightSet other, string what, bool subtract)
    {
        Layout.CheckSame(other.Layout, what);
        var result = new WeightTensor[_tensors.Length];
        for (int i = 0; i < _tensors.Length; i++)
        {
            var a = _tensors[i].Data;
            var b = other._tensors[i].Data;
            var r = GC.AllocateUninitializedArray<float>(a.Length);
            if (subtract)
            {
                TensorMath.Subtract(a, b, r);
            }
            else
            {
                TensorMath.Add(a, b, r);
            }

            result[i] = new WeightTensor(_tensors[i].Name, _tensors[i].ShapeArray, r);
        }

        return new WeightSet(result);
    }
}
