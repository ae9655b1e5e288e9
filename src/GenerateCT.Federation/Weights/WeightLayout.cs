namespace GenerateCT.Federation.Weights;

/// <summary>The ordered tensor names and shapes of a model: what its versions and updates must match.</summary>
public sealed class WeightLayout : IEquatable<WeightLayout>
{
    private readonly string[] _names;
    private readonly long[][] _shapes;
    private readonly Dictionary<string, int> _index;

    public WeightLayout(IEnumerable<(string Name, IReadOnlyList<long> Shape)> tensors)
    {
        var list = tensors.ToList();
        _names = new string[list.Count];
        _shapes = new long[list.Count][];
        _index = new Dictionary<string, int>(list.Count, StringComparer.Ordinal);
        for (int i = 0; i < list.Count; i++)
        {
            var (name, shape) = list[i];
            ArgumentException.ThrowIfNullOrEmpty(name);
            if (!_index.TryAdd(name, i))
            {
                throw new ArgumentException($"tensor '{name}' appears twice", nameof(tensors));
            }

            _names[i] = name;
            _shapes[i] = CheckShape(name, shape);
            ElementCount += ElementsOf(_shapes[i]);
        }
    }

    public int Count => _names.Length;

    /// <summary>Elements of all tensors together.</summary>
    public long ElementCount { get; }

    public string NameAt(int index) => _names[index];

    public IReadOnlyList<long> ShapeAt(int index) => _shapes[index];

    public long ElementCountAt(int index) => ElementsOf(_shapes[index]);

    /// <summary>Position of <paramref name="name"/>, or -1 when the layout has no such tensor.</summary>
    public int IndexOf(string name) => _index.TryGetValue(name, out var i) ? i : -1;

    public bool Equals(WeightLayout? other) =>
        other is not null && other._names.Length == _names.Length &&
        _names.AsSpan().SequenceEqual(other._names) &&
        _shapes.Zip(other._shapes).All(p => p.First.AsSpan().SequenceEqual(p.Second));

    public override bool Equals(object? obj) => Equals(obj as WeightLayout);

    public override int GetHashCode() => HashCode.Combine(_names.Length, _names.Length > 0 ? _names[0] : null);

    /// <summary>Throws <see cref="UnknownTensorException"/> or <see cref="TensorShapeMismatchException"/> at the first difference.</summary>
    internal void CheckSame(WeightLayout other, string what)
    {
        for (int i = 0; i < Math.Max(Count, other.Count); i++)
        {
            if (i >= Count || i >= other.Count || _names[i] != other._names[i])
            {
                var got = i < other.Count ? $"'{other._names[i]}'" : "nothing";
                var want = i < Count ? $"'{_names[i]}'" : "nothing";
                throw new UnknownTensorException($"{what}: tensor {i} is {got} where {want} was expected");
            }

            CheckShape(i, other._shapes[i], what);
        }
    }

    internal void CheckShape(int index, long[] shape, string what)
    {
        if (!_shapes[index].AsSpan().SequenceEqual(shape))
        {
            throw new TensorShapeMismatchException(
                $"{what}: tensor '{_names[index]}' has shape [{string.Join(", ", shape)}], expected [{string.Join(", ", _shapes[index])}]");
        }
    }

    internal long[] ShapeArrayAt(int index) => _shapes[index];

    internal static long ElementsOf(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            n = checked(n * d);
        }

        return n;
    }

    internal static long[] CheckShape(string name, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count > WeightFileFormat.MaxRank)
        {
            throw new ArgumentException($"tensor '{name}' has rank {shape.Count}; at most {WeightFileFormat.MaxRank} is supported");
        }

        var copy = shape.ToArray();
        if (copy.Any(d => d < 0) || ElementsOf(copy) > Array.MaxLength)
        {
            throw new ArgumentException($"tensor '{name}' has an invalid shape [{string.Join(", ", copy)}]");
        }

        return copy;
    }
}
