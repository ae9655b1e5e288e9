using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Text;
using GenerateCT.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Pipeline;

/// <summary>One stage's weights in a bundle.</summary>
public sealed record BundleComponent
{
    /// <summary>A <see cref="ModelStage"/> name (superres once per cascade stage, in order) or <see cref="ModelBundle.TextEncoderStage"/>.</summary>
    public required string Stage { get; init; }

    /// <summary>The named config the weights belong to ("paper", "tiny", "t5-v1_1-base").</summary>
    public required string Config { get; init; }

    /// <summary>Path relative to the bundle; for the text encoder a Hugging Face directory.</summary>
    public required string File { get; init; }

    /// <summary>Lower-case hex SHA-256 of the file, or for a directory of its sorted "name sha256" lines.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Where the weights came from (trained here, imported from a released file, seeded).</summary>
    public string? Source { get; init; }

    public string? Notes { get; init; }
}

/// <summary>The bundle's manifest.json.</summary>
public sealed record BundleManifest
{
    public const string CurrentFormat = "generatect-bundle/1";

    public string Format { get; init; } = CurrentFormat;

    /// <summary>The <see cref="GenerationConfig"/> name that fixes shapes and the SR cascade.</summary>
    public required string Pipeline { get; init; }

    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UtcNow;

    public required IReadOnlyList<BundleComponent> Components { get; init; }

    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>The outcome of checking one component: hash and keys.</summary>
public sealed record ComponentCheck(BundleComponent Component, string Keys);

/// <summary>
/// A model bundle: a directory holding <c>manifest.json</c> and the weights of CT-ViT, MaskGIT, each SR
/// stage (GenerateCT checkpoints, <see cref="ModelCheckpoint"/>) and the frozen text encoder (a Hugging
/// Face T5 directory). Loading checks every hash, then loads every state dict strictly by name, so a
/// bundle either works as a whole or fails with the reason.
/// </summary>
public sealed class ModelBundle : IDisposable
{
    public const string ManifestFile = "manifest.json";

    /// <summary>The component name of the frozen text encoder (not a trained <see cref="ModelStage"/>).</summary>
    public const string TextEncoderStage = "text-encoder";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private ModelBundle(string directory, BundleManifest manifest, GenerationConfig config, CtVit.CtVit ctvit, MaskGit.MaskGit maskgit, IReadOnlyList<SuperResUnet> superRes, TextEmbedder text, IReadOnlyList<ComponentCheck> checks)
    {
        Directory = directory;
        Manifest = manifest;
        Config = config;
        CtVit = ctvit;
        MaskGit = maskgit;
        SuperRes = superRes;
        Text = text;
        Checks = checks;
    }

    public string Directory { get; }

    public BundleManifest Manifest { get; }

    public GenerationConfig Config { get; }

    public CtVit.CtVit CtVit { get; }

    public MaskGit.MaskGit MaskGit { get; }

    public IReadOnlyList<SuperResUnet> SuperRes { get; }

    public TextEmbedder Text { get; }

    /// <summary>Per component: what was verified.</summary>
    public IReadOnlyList<ComponentCheck> Checks { get; }

    /// <summary>Reads manifest.json; a missing or unreadable one is a <see cref="ModelBundleException"/>.</summary>
    public static BundleManifest ReadManifest(string directory)
    {
        var path = Path.Combine(directory, ManifestFile);
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ModelBundleException($"model bundle '{directory}' does not exist; create one with `gct train all` or `gct model import-released`");
        }

        if (!File.Exists(path))
        {
            throw new ModelBundleException($"'{directory}' is not a model bundle: {ManifestFile} is missing");
        }

        BundleManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new ModelBundleException($"{path} is not valid JSON ({e.Message}); restore the bundle from its source", e);
        }

        if (manifest is null || manifest.Components is null || manifest.Pipeline is null)
        {
            throw new ModelBundleException($"{path} lacks 'pipeline' or 'components'");
        }

        if (manifest.Format != BundleManifest.CurrentFormat)
        {
            throw new ModelBundleException($"{path} has format '{manifest.Format}'; this version reads '{BundleManifest.CurrentFormat}'");
        }

        return manifest;
    }

    public static void WriteManifest(string directory, BundleManifest manifest)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, ManifestFile);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(manifest, Json));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Checks hashes and keys of every component without keeping the models.</summary>
    public static IReadOnlyList<ComponentCheck> Verify(string directory)
    {
        using var bundle = Load(directory, CPU);
        return bundle.Checks;
    }

    /// <summary>Verifies and loads a bundle onto <paramref name="device"/> (eval mode, no gradients).</summary>
    public static ModelBundle Load(string directory, Device? device = null)
    {
        device ??= CPU;
        var manifest = ReadManifest(directory);
        GenerationConfig config;
        try
        {
            config = GenerationConfig.Named(manifest.Pipeline);
        }
        catch (ArgumentException e)
        {
            throw new ModelBundleException($"{Path.Combine(directory, ManifestFile)}: {e.Message}", e);
        }

        // Hashes first: cheap, and a corrupt file should be reported as such rather than as a key error.
        foreach (var c in manifest.Components)
        {
            var path = Resolve(directory, c);
            var actual = Sha256Of(path);
            if (!string.Equals(actual, c.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new ModelBundleException($"{c.Stage} weights {path} fail their hash check (manifest {c.Sha256[..Math.Min(12, c.Sha256.Length)]}…, file {actual[..12]}…): the file was changed or damaged; restore it from the bundle's source");
            }
        }

        var checks = new List<ComponentCheck>();
        var disposables = new List<IDisposable>();
        try
        {
            var ctvitComponent = Single(manifest, ModelStage.CtVit.Name, directory);
            RequireConfig(ctvitComponent, config.CtVit.Name, directory);
            var ctvit = new CtVit.CtVit(config.CtVit);
            disposables.Add(ctvit);
            checks.Add(new ComponentCheck(ctvitComponent, LoadStrict(ctvit, Resolve(directory, ctvitComponent), GenerateCT.Model.CtVit.CtVit.IsLossNetworkKey).ToString()));

            var maskgitComponent = Single(manifest, ModelStage.MaskGit.Name, directory);
            RequireConfig(maskgitComponent, config.MaskGit.Name, directory);
            var maskgit = new MaskGit.MaskGit(config.MaskGit);
            disposables.Add(maskgit);
            checks.Add(new ComponentCheck(maskgitComponent, LoadStrict(maskgit, Resolve(directory, maskgitComponent)).ToString()));

            var srComponents = manifest.Components.Where(c => ModelStage.SuperRes.Is(c.Stage)).ToList();
            if (srComponents.Count != config.SuperRes.Count)
            {
                throw new ModelBundleException($"bundle '{directory}' has {srComponents.Count} superres components but pipeline '{config.Name}' needs {config.SuperRes.Count}");
            }

            var unets = new List<SuperResUnet>();
            for (var i = 0; i < srComponents.Count; i++)
            {
                RequireConfig(srComponents[i], config.Name, directory);
                var unet = new SuperResUnet(config.SuperRes[i].Unet);
                disposables.Add(unet);
                checks.Add(new ComponentCheck(srComponents[i], LoadStrict(unet, Resolve(directory, srComponents[i])).ToString()));
                unets.Add(unet);
            }

            var textComponent = Single(manifest, TextEncoderStage, directory);
            RequireConfig(textComponent, config.TextConfigName, directory);
            T5Bundle t5;
            try
            {
                t5 = T5Bundle.Load(Resolve(directory, textComponent));
            }
            catch (TextEncoderBundleException e)
            {
                throw new ModelBundleException($"text encoder of bundle '{directory}': {e.Message}", e);
            }

            if (t5.Config != config.Text)
            {
                t5.Encoder.Dispose();
                throw new ModelBundleException($"text encoder of bundle '{directory}' has d_model {t5.Config.DModel}, vocabulary {t5.Config.VocabSize}; pipeline '{config.Name}' needs d_model {config.Text.DModel}, vocabulary {config.Text.VocabSize}");
            }

            var text = new TextEmbedder(t5.Encoder, t5.Tokenizer, device);
            disposables.Add(text);
            checks.Add(new ComponentCheck(textComponent, $"{t5.Encoder.state_dict().Count} matched (Hugging Face T5 encoder, strict)"));

            foreach (var m in new nn.Module[] { ctvit, maskgit }.Concat(unets))
            {
                m.to(device);
                m.eval();
                foreach (var p in m.parameters())
                {
                    p.requires_grad = false;
                }
            }

            return new ModelBundle(directory, manifest, config, ctvit, maskgit, unets, text, checks);
        }
        catch
        {
            foreach (var d in disposables)
            {
                d.Dispose();
            }

            throw;
        }
    }

    /// <summary>Saves a stage as a GenerateCT checkpoint in the bundle and returns its manifest entry.</summary>
    public static BundleComponent SaveStage(string directory, ModelStage stage, string config, string fileName, nn.Module module, string source, string? notes = null, Func<string, bool>? excludeKeys = null)
    {
        var path = Path.Combine(directory, fileName);
        ModelCheckpoint.Save(path, module, new CheckpointInfo { Stage = stage.Name, Config = config }, excludeKeys: excludeKeys);
        return new BundleComponent { Stage = stage.Name, Config = config, File = fileName, Sha256 = Sha256Of(path), Source = source, Notes = notes };
    }

    /// <summary>Entry for a text encoder directory already placed under the bundle.</summary>
    public static BundleComponent TextEncoderComponent(string directory, string config, string relativeDirectory, string source, string? notes = null) =>
        new()
        {
            Stage = TextEncoderStage,
            Config = config,
            File = relativeDirectory,
            Sha256 = Sha256Of(Path.Combine(directory, relativeDirectory)),
            Source = source,
            Notes = notes,
        };

    /// <summary>Writes a T5 encoder as a Hugging Face directory (config.json, spiece.model, model.safetensors).</summary>
    public static void WriteTextEncoder(string directory, T5Encoder encoder, string spieceModelPath)
    {
        System.IO.Directory.CreateDirectory(directory);
        var c = encoder.Config;
        var config = new Dictionary<string, object>
        {
            ["model_type"] = "t5",
            ["architectures"] = new[] { "T5EncoderModel" },
            ["vocab_size"] = c.VocabSize,
            ["d_model"] = c.DModel,
            ["d_kv"] = c.DKv,
            ["d_ff"] = c.DFf,
            ["num_layers"] = c.NumLayers,
            ["num_heads"] = c.NumHeads,
            ["relative_attention_num_buckets"] = c.RelativeAttentionNumBuckets,
            ["relative_attention_max_distance"] = c.RelativeAttentionMaxDistance,
            ["feed_forward_proj"] = "gated-gelu",
            ["layer_norm_epsilon"] = c.LayerNormEpsilon,
            ["tie_word_embeddings"] = false,
            ["pad_token_id"] = T5Tokenizer.PadId,
            ["eos_token_id"] = T5Tokenizer.EosId,
        };
        File.WriteAllText(Path.Combine(directory, T5Bundle.ConfigFile), JsonSerializer.Serialize(config, Json));
        File.Copy(spieceModelPath, Path.Combine(directory, T5Bundle.TokenizerFile), overwrite: true);
        var weights = encoder.state_dict()
            .Where(kv => kv.Key != "encoder.embed_tokens.weight") // tied: HF stores the table once as shared.weight
            .ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous());
        try
        {
            TorchSharp.PyBridge.Safetensors.SaveStateDict(Path.Combine(directory, T5Bundle.SafetensorsFile), weights);
        }
        finally
        {
            foreach (var t in weights.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>SHA-256 of a file, or of a directory as the hash of its sorted "relative-name sha256" lines.</summary>
    public static string Sha256Of(string path)
    {
        if (File.Exists(path))
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        if (System.IO.Directory.Exists(path))
        {
            var lines = System.IO.Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(path, f).Replace('\\', '/'))
                .Order(StringComparer.Ordinal)
                .Select(rel => $"{rel} {Sha256Of(Path.Combine(path, rel))}\n");
            return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Concat(lines))));
        }

        throw new ModelBundleException($"{path} is missing from the bundle; restore it or rebuild the bundle");
    }

    private static string Resolve(string directory, BundleComponent c)
    {
        if (Path.IsPathRooted(c.File) || c.File.Split('/', '\\').Contains(".."))
        {
            throw new ModelBundleException($"{c.Stage}: manifest path '{c.File}' leaves the bundle; bundle paths must be relative");
        }

        return Path.Combine(directory, c.File);
    }

    private static BundleComponent Single(BundleManifest manifest, string stage, string directory)
    {
        var found = manifest.Components.Where(c => c.Stage == stage).ToList();
        return found.Count switch
        {
            1 => found[0],
            0 => throw new ModelBundleException($"bundle '{directory}' has no {stage} component; its manifest is incomplete"),
            _ => throw new ModelBundleException($"bundle '{directory}' lists {found.Count} {stage} components; expected one"),
        };
    }

    private static void RequireConfig(BundleComponent c, string expected, string directory)
    {
        if (!string.Equals(c.Config, expected, StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelBundleException($"{c.Stage} of bundle '{directory}' is config '{c.Config}', but its pipeline needs '{expected}'");
        }
    }

    private static StateDictReport LoadStrict(nn.Module module, string path, Func<string, bool>? optional = null)
    {
        try
        {
            return ReferenceWeights.Load(module, path, optional);
        }
        catch (CheckpointKeyMismatchException e)
        {
            throw new ModelBundleException($"{path} does not fit its stage: {e.Report}; the bundle is damaged or was built for another config", e);
        }
        catch (CheckpointFormatException e)
        {
            throw new ModelBundleException($"{path}: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        CtVit.Dispose();
        MaskGit.Dispose();
        foreach (var u in SuperRes)
        {
            u.Dispose();
        }

        Text.Dispose();
    }
}
