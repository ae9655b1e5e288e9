using GenerateCT.Federation.Weights;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Training;
using static TorchSharp.torch;

namespace GenerateCT.Node.Federation;

/// <summary>
/// The bridge between a model bundle (TorchSharp checkpoints) and the weights a federated round
/// exchanges (<see cref="WeightSet"/>, float32 arrays by state-dict key). A stage's round weights are
/// the state dict of that stage's first component in the bundle: CT-ViT without its loss networks
/// (bundles keep none), MaskGIT, and the first super-resolution stage of the cascade (the one node
/// fine-tuning trains; later cascade stages stay as the base bundle has them).
/// </summary>
public static class BundleWeights
{
    /// <summary>Reads the round weights of <paramref name="stage"/> from the bundle in <paramref name="bundleDirectory"/>.</summary>
    public static WeightSet ReadStage(string bundleDirectory, ModelStage stage) =>
        ReadCheckpoint(Path.Combine(bundleDirectory, Component(ModelBundle.ReadManifest(bundleDirectory), stage, bundleDirectory).File));

    /// <summary>Reads a stage checkpoint (a bundle's, or a training job's result) as round weights.</summary>
    public static WeightSet ReadCheckpoint(string checkpointPath)
    {
        using var checkpoint = ModelCheckpoint.Read(checkpointPath);
        return FromTensors(checkpoint.State);
    }

    /// <summary>
    /// Writes a new bundle in <paramref name="outDirectory"/>: a copy of <paramref name="baseBundle"/> whose
    /// <paramref name="stage"/> weights are <paramref name="weights"/> (same keys and shapes as the base's, or
    /// an <see cref="ArgumentException"/> naming the first difference), with the manifest's hash and source updated.
    /// The copy is written beside the target and renamed into place, so a crash leaves no half bundle.
    /// </summary>
    public static void WriteDerivedBundle(string baseBundle, ModelStage stage, WeightSet weights, string outDirectory, string source)
    {
        var manifest = ModelBundle.ReadManifest(baseBundle);
        var component = Component(manifest, stage, baseBundle);
        var target = Path.GetFullPath(outDirectory);
        var partial = target + ".partial";
        if (Directory.Exists(partial))
        {
            Directory.Delete(partial, recursive: true);
        }

        CopyDirectory(baseBundle, partial);
        var checkpointPath = Path.Combine(partial, component.File);
        CheckpointInfo info;
        Dictionary<string, Tensor> baseState;
        using (var checkpoint = ModelCheckpoint.Read(checkpointPath))
        {
            info = checkpoint.Info;
            baseState = checkpoint.TakeState();
        }

        try
        {
            var replaced = Replace(baseState, weights);
            try
            {
                ModelCheckpoint.Save(checkpointPath, replaced, info with { Sections = [] });
            }
            finally
            {
                replaced.ForEach(kv => kv.Value.Dispose());
            }
        }
        finally
        {
            foreach (var t in baseState.Values)
            {
                t.Dispose();
            }
        }

        var updated = component with { Sha256 = ModelBundle.Sha256Of(checkpointPath), Source = source };
        ModelBundle.WriteManifest(partial, manifest with
        {
            CreatedUtc = DateTimeOffset.UtcNow,
            Components = [.. manifest.Components.Select(c => ReferenceEquals(c, component) ? updated : c)],
        });
        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        Directory.Move(partial, target);
    }

    /// <summary>Float tensors as round weights, in the given order; integer or boolean entries are refused.</summary>
    public static WeightSet FromTensors(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var list = new List<WeightTensor>();
        foreach (var (name, tensor) in tensors)
        {
            if (!is_floating_point(tensor))
            {
                throw new ArgumentException($"state-dict entry '{name}' is {tensor.dtype}: round weights are floating point only", nameof(tensors));
            }

            using var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
            using var flat = cpu.reshape(-1); // the accessor cannot read a 0-d tensor
            list.Add(new WeightTensor(name, cpu.shape, flat.data<float>().ToArray()));
        }

        return new WeightSet(list);
    }

    /// <summary>Round weights as CPU float32 tensors by key (the caller owns and disposes them).</summary>
    public static Dictionary<string, Tensor> ToTensors(WeightSet weights)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var w in weights)
        {
            tensors[w.Name] = tensor(w.Data, [.. w.Shape]);
        }

        return tensors;
    }

    private static BundleComponent Component(BundleManifest manifest, ModelStage stage, string bundleDirectory) =>
        manifest.Components.FirstOrDefault(c => stage.Is(c.Stage))
        ?? throw new ModelBundleException($"model bundle '{bundleDirectory}' has no {stage.DisplayName} component");

    /// <summary>The base state with every entry replaced by the weight of the same key, dtype kept; keys and shapes must match.</summary>
    private static List<KeyValuePair<string, Tensor>> Replace(Dictionary<string, Tensor> baseState, WeightSet weights)
    {
        if (weights.Count != baseState.Count)
        {
            throw new ArgumentException($"the weights hold {weights.Count} tensors but the base stage has {baseState.Count}", nameof(weights));
        }

        var replaced = new List<KeyValuePair<string, Tensor>>(baseState.Count);
        foreach (var (name, original) in baseState)
        {
            if (weights.Layout.IndexOf(name) < 0)
            {
                replaced.ForEach(kv => kv.Value.Dispose());
                throw new ArgumentException($"the weights lack '{name}' of the base stage", nameof(weights));
            }

            var w = weights[name];
            if (!w.Shape.SequenceEqual(original.shape))
            {
                replaced.ForEach(kv => kv.Value.Dispose());
                throw new ArgumentException($"'{name}' has shape [{string.Join(", ", w.Shape)}] but the base stage has [{string.Join(", ", original.shape)}]", nameof(weights));
            }

            using var values = tensor(w.Data, [.. w.Shape]);
            replaced.Add(new(name, values.to(original.dtype)));
        }

        return replaced;
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(source))
        {
            CopyDirectory(dir, Path.Combine(target, Path.GetFileName(dir)));
        }
    }
}
