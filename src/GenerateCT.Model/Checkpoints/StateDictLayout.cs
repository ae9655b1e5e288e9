using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Checkpoints;

/// <summary>One state-dict entry: key, shape and dtype (as in the reference *_paper_keys.json files).</summary>
public sealed record StateDictEntry(string Key, long[] Shape, ScalarType DType)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The PyTorch dtype name ("float32", "int64", "bool", ...).</summary>
    public string DTypeName => DType switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Int64 => "int64",
        ScalarType.Int32 => "int32",
        ScalarType.Int16 => "int16",
        ScalarType.Int8 => "int8",
        ScalarType.Byte => "uint8",
        ScalarType.Bool => "bool",
        _ => DType.ToString().ToLowerInvariant(),
    };

    public override string ToString() => $"{Key} [{string.Join(", ", Shape)}] {DTypeName}";
}

/// <summary>
/// The state dict of any module in PyTorch's order: a module's own parameters, then its own persistent
/// buffers, then each child in registration order (torch.nn.Module._save_to_state_dict). TorchSharp's
/// <c>state_dict()</c> has the same keys but lists all parameters before all buffers.
/// </summary>
public static class StateDictLayout
{
    /// <summary>Key → tensor in PyTorch order (the tensors are the module's own, not copies).</summary>
    public static List<KeyValuePair<string, Tensor>> Ordered(nn.Module module)
    {
        var result = new List<KeyValuePair<string, Tensor>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Visit(module, string.Empty, result, seen);
        return result;
    }

    public static List<StateDictEntry> Entries(nn.Module module) =>
        [.. Ordered(module).Select(kv => new StateDictEntry(kv.Key, kv.Value.shape, kv.Value.dtype))];

    /// <summary>Sum of numel over parameters (buffers excluded), optionally filtered by key.</summary>
    public static long ParameterCount(nn.Module module, Func<string, bool>? include = null) =>
        module.named_parameters().Where(p => include?.Invoke(p.name) ?? true).Sum(p => p.parameter.numel());

    private static void Visit(nn.Module module, string prefix, List<KeyValuePair<string, Tensor>> result, HashSet<string> seen)
    {
        foreach (var (name, p) in module.named_parameters(recurse: false))
        {
            Add(prefix + name, p);
        }

        foreach (var (name, b) in module.named_buffers(recurse: false, include_nonpersistent: false))
        {
            Add(prefix + name, b);
        }

        foreach (var (name, child) in module.named_children())
        {
            Visit(child, prefix + name + ".", result, seen);
        }

        void Add(string key, Tensor t)
        {
            if (seen.Add(key))
            {
                result.Add(new(key, t));
            }
        }
    }
}
