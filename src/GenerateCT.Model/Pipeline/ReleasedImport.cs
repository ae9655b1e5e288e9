using System.Collections;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.Text;
using GenerateCT.Model.Training;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GenerateCT.Model.Pipeline;

/// <summary>The key report of one imported file.</summary>
public sealed record ImportReport(string Stage, string File, StateDictReport Keys);

/// <summary>
/// Turns the published GenerateCT checkpoints into a bundle. Layouts (docs/porting-guide.md):
/// <c>ctvit_pretrained.pt</c> is the CT-ViT state dict with vgg.* and discr.* (training-only, skipped);
/// <c>transformer_pretrained.pt</c> is MaskGITTransformer's: <c>ctvit.*</c> (without vgg/discr) and
/// <c>maskgit.*</c>; <c>superres_pretrained.pt</c> holds the Superres state dict under <c>model</c>,
/// the Unet under <c>unets.1.</c> beside the NullUnet's <c>unets.0.dummy_parameter</c>; the text encoder
/// is a Hugging Face google/t5-v1_1-base directory. Every stage loads strictly by name.
/// </summary>
public static class ReleasedImport
{
    public const string TransformerCtVitPrefix = "ctvit.";
    public const string TransformerMaskGitPrefix = "maskgit.";
    public const string SuperresModelEntry = "model";
    public const string SuperresNullUnetKey = "unets.0.dummy_parameter";

    public static (BundleManifest Manifest, IReadOnlyList<ImportReport> Reports) Import(
        GenerationConfig config, string ctvitPath, string transformerPath, string superresPath, string t5Directory, string bundleDirectory)
    {
        if (config.SuperRes.Count != 1)
        {
            throw new ModelBundleException($"the released checkpoints have one SR stage; config '{config.Name}' has {config.SuperRes.Count}");
        }

        Directory.CreateDirectory(bundleDirectory);
        var reports = new List<ImportReport>();
        var components = new List<BundleComponent>();

        using (var ctvit = new CtVit.CtVit(config.CtVit))
        {
            var released = ReadFlat(ctvitPath);
            reports.Add(new ImportReport(ModelStage.CtVit.Name, ctvitPath, ApplyOrThrow(ctvit, released, ctvitPath, CtVit.CtVit.IsLossNetworkKey)));
            Dispose(released);

            var transformer = ReadFlat(transformerPath);
            var maskgitState = WithPrefix(transformer, TransformerMaskGitPrefix);
            var embeddedCtVit = WithPrefix(transformer, TransformerCtVitPrefix);
            var other = transformer.Keys.Where(k => !k.StartsWith(TransformerMaskGitPrefix, StringComparison.Ordinal) && !k.StartsWith(TransformerCtVitPrefix, StringComparison.Ordinal)).ToList();
            if (other.Count > 0)
            {
                Dispose(transformer);
                throw new ModelBundleException($"{transformerPath} has {other.Count} keys outside ctvit.* and maskgit.* (e.g. '{other[0]}'); is it transformer_pretrained.pt?");
            }

            var source = $"released {Path.GetFileName(ctvitPath)}";
            if (embeddedCtVit.Count > 0)
            {
                // The transformer file carries the CT-ViT its tokens were learnt against (copy_for_eval);
                // inference_transformer.py decodes with that copy, so the bundle does too.
                reports.Add(new ImportReport(ModelStage.CtVit.Name + " (in transformer)", transformerPath, ApplyOrThrow(ctvit, embeddedCtVit, transformerPath + " ctvit.*", CtVit.CtVit.IsLossNetworkKey)));
                source = $"released {Path.GetFileName(transformerPath)} ctvit.* (keys of {Path.GetFileName(ctvitPath)} verified)";
            }

            components.Add(ModelBundle.SaveStage(bundleDirectory, ModelStage.CtVit, config.CtVit.Name, "ctvit.gct", ctvit, source));

            using var maskgit = new MaskGit.MaskGit(config.MaskGit);
            reports.Add(new ImportReport(ModelStage.MaskGit.Name, transformerPath, ApplyOrThrow(maskgit, maskgitState, transformerPath + " maskgit.*")));
            Dispose(transformer);
            components.Add(ModelBundle.SaveStage(bundleDirectory, ModelStage.MaskGit, config.MaskGit.Name, "maskgit.gct", maskgit, $"released {Path.GetFileName(transformerPath)} maskgit.*"));
        }

        using (var unet = new SuperRes.SuperResUnet(config.SuperRes[0].Unet))
        {
            var superres = ReadSuperres(superresPath);
            var unetState = WithPrefix(superres, SuperRes.Superres.UnetKeyPrefix);
            var stray = superres.Keys.Where(k => k != SuperresNullUnetKey && !k.StartsWith(SuperRes.Superres.UnetKeyPrefix, StringComparison.Ordinal)).ToList();
            try
            {
                if (stray.Count > 0)
                {
                    throw new ModelBundleException($"{superresPath} has {stray.Count} keys outside unets.0/unets.1 (e.g. '{stray[0]}'); is it superres_pretrained.pt?");
                }

                reports.Add(new ImportReport(ModelStage.SuperRes.Name, superresPath, ApplyOrThrow(unet, unetState, superresPath + " model.unets.1.*")));
            }
            finally
            {
                Dispose(superres);
            }

            components.Add(ModelBundle.SaveStage(bundleDirectory, ModelStage.SuperRes, config.Name, "superres-1.gct", unet, $"released {Path.GetFileName(superresPath)} model.unets.1.*"));
        }

        // Text encoder: validate the HF directory, then copy the files the loader uses.
        try
        {
            var t5 = T5Bundle.Load(t5Directory);
            using (t5.Encoder)
            {
                if (t5.Config != config.Text)
                {
                    throw new ModelBundleException($"{t5Directory} is a T5 with d_model {t5.Config.DModel}; config '{config.Name}' needs {config.TextConfigName} (d_model {config.Text.DModel})");
                }
            }
        }
        catch (TextEncoderBundleException e)
        {
            throw new ModelBundleException(e.Message, e);
        }

        var textDir = Path.Combine(bundleDirectory, "text-encoder");
        Directory.CreateDirectory(textDir);
        foreach (var name in new[] { T5Bundle.ConfigFile, T5Bundle.TokenizerFile, T5Bundle.SafetensorsFile, T5Bundle.PickleFile })
        {
            var from = Path.Combine(t5Directory, name);
            if (File.Exists(from))
            {
                File.Copy(from, Path.Combine(textDir, name), overwrite: true);
            }
        }

        components.Add(ModelBundle.TextEncoderComponent(bundleDirectory, config.TextConfigName, "text-encoder", $"Hugging Face directory {Path.GetFullPath(t5Directory)}", "frozen, as in the paper"));
        var manifest = new BundleManifest
        {
            Pipeline = config.Name,
            Components = components,
            Notes = ["imported from the published GenerateCT checkpoints by `gct model import-released`"],
        };
        ModelBundle.WriteManifest(bundleDirectory, manifest);
        return (manifest, reports);
    }

    private static StateDictReport ApplyOrThrow(nn.Module module, IReadOnlyDictionary<string, Tensor> state, string source, Func<string, bool>? optional = null)
    {
        try
        {
            return ReferenceWeights.Apply(module, state, optional, source);
        }
        catch (CheckpointKeyMismatchException e)
        {
            throw new ModelBundleException($"{source} does not match the model: {e.Report}", e);
        }
    }

    private static Dictionary<string, Tensor> ReadFlat(string path)
    {
        try
        {
            return ReferenceWeights.ReadStateDict(path);
        }
        catch (Exception e) when (e is CheckpointFormatException or FileNotFoundException)
        {
            throw new ModelBundleException(e.Message, e);
        }
    }

    /// <summary>superres_pretrained.pt: {"model": state dict, ...}; a bare state dict is accepted too.</summary>
    private static Dictionary<string, Tensor> ReadSuperres(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelBundleException($"{path} does not exist");
        }

        if (ReferenceWeights.DetectFormat(path) != CheckpointFileFormat.PyTorchZip)
        {
            return ReadFlat(path);
        }

        Hashtable table;
        try
        {
            using var stream = File.OpenRead(path);
            table = PyTorchUnpickler.UnpickleStateDict(stream);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ModelBundleException($"{path} could not be read as a PyTorch file: {e.Message}", e);
        }

        var state = ReferenceWeights.TensorsByName(table[SuperresModelEntry] is IDictionary model ? model : table);

        if (state.Count == 0)
        {
            throw new ModelBundleException($"{path} holds no '{SuperresModelEntry}' state dict; is it superres_pretrained.pt?");
        }

        return state;
    }

    private static Dictionary<string, Tensor> WithPrefix(Dictionary<string, Tensor> state, string prefix) =>
        state.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);

    private static void Dispose(Dictionary<string, Tensor> state)
    {
        foreach (var t in state.Values)
        {
            t.Dispose();
        }
    }
}
