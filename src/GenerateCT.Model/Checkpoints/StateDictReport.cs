using static TorchSharp.torch;

namespace GenerateCT.Model.Checkpoints;

/// <summary>A key whose shape (or dtype) differs between a model and a checkpoint.</summary>
public sealed record ShapeMismatch(string Key, long[] ModelShape, long[] CheckpointShape, ScalarType ModelDType, ScalarType CheckpointDType)
{
    public override string ToString() =>
        $"{Key}: model [{string.Join(", ", ModelShape)}] {ModelDType}, checkpoint [{string.Join(", ", CheckpointShape)}] {CheckpointDType}";
}

/// <summary>
/// How a state dict matches a module, key by key (the PyTorch load_state_dict report, plus shapes):
/// keys the module has and the checkpoint lacks, keys the checkpoint has and the module lacks,
/// keys whose shapes differ, and optional keys (e.g. CT-ViT's vgg.* / discr.*) absent on either side.
/// </summary>
public sealed record StateDictReport(
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<ShapeMismatch> ShapeMismatched,
    IReadOnlyList<string> SkippedOptional,
    int Matched)
{
    /// <summary>Nothing missing, nothing mis-shaped and nothing unexpected (optional keys aside).</summary>
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatched.Count == 0;

    public static StateDictReport Compare(
        IReadOnlyDictionary<string, Tensor> model,
        IReadOnlyDictionary<string, Tensor> checkpoint,
        Func<string, bool>? optionalKeys = null)
    {
        var missing = new List<string>();
        var unexpected = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        var skipped = new List<string>();
        int matched = 0;
        foreach (var (key, t) in model)
        {
            if (!checkpoint.TryGetValue(key, out var c))
            {
                (optionalKeys?.Invoke(key) == true ? skipped : missing).Add(key);
            }
            else if (!t.shape.SequenceEqual(c.shape) || !CompatibleDType(t.dtype, c.dtype))
            {
                mismatched.Add(new ShapeMismatch(key, t.shape, c.shape, t.dtype, c.dtype));
            }
            else
            {
                matched++;
            }
        }

        foreach (var key in checkpoint.Keys.Where(k => !model.ContainsKey(k)))
        {
            (optionalKeys?.Invoke(key) == true ? skipped : unexpected).Add(key);
        }

        return new StateDictReport(missing, unexpected, mismatched, skipped, matched);
    }

    /// <summary>Floating-point entries load across float widths (e.g. a float16 export); others must match.</summary>
    private static bool CompatibleDType(ScalarType model, ScalarType file) =>
        model == file || (is_floating_point(model) && is_floating_point(file));

    private static bool is_floating_point(ScalarType t) =>
        t is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16;

    public override string ToString()
    {
        static string List(IEnumerable<string> keys)
        {
            var all = keys.ToList();
            return all.Count <= 8 ? string.Join(", ", all) : string.Join(", ", all.Take(8)) + $", … ({all.Count - 8} more)";
        }

        var parts = new List<string> { $"{Matched} matched" };
        if (Missing.Count > 0)
        {
            parts.Add($"{Missing.Count} missing: {List(Missing)}");
        }

        if (Unexpected.Count > 0)
        {
            parts.Add($"{Unexpected.Count} unexpected: {List(Unexpected)}");
        }

        if (ShapeMismatched.Count > 0)
        {
            parts.Add($"{ShapeMismatched.Count} shape-mismatched: {List(ShapeMismatched.Select(m => m.ToString()))}");
        }

        if (SkippedOptional.Count > 0)
        {
            parts.Add($"{SkippedOptional.Count} optional skipped");
        }

        return string.Join("; ", parts);
    }
}
