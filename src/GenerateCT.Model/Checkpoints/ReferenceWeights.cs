using System.Collections;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GenerateCT.Model.Checkpoints;

/// <summary>
/// Reads state dicts from any of the three formats a model stage meets — a PyTorch <c>torch.save</c>
/// zip (.pt/.pth/.bin, through TorchSharp.PyBridge's unpickler), safetensors, or our own
/// <see cref="ModelCheckpoint"/> — and copies them into any module by name with a key report.
/// Zero-element tensors (CT-ViT's self-attention <c>null_kv</c>) are ordinary entries here.
/// </summary>
public static class ReferenceWeights
{
    /// <summary>The checkpoint's format, from its first bytes (not its extension).</summary>
    public static CheckpointFileFormat DetectFormat(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"checkpoint {path} does not exist", path);
        }

        Span<byte> head = stackalloc byte[16];
        int n;
        using (var s = File.OpenRead(path))
        {
            n = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }

        if (n >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4)
        {
            return CheckpointFileFormat.PyTorchZip;
        }

        if (n >= ModelCheckpoint.Magic.Length && head[..ModelCheckpoint.Magic.Length].SequenceEqual(ModelCheckpoint.Magic))
        {
            return CheckpointFileFormat.Native;
        }

        if (n >= 9)
        {
            ulong headerLength = BitConverter.ToUInt64(head[..8]);
            long fileLength = new FileInfo(path).Length;
            if (head[8] == (byte)'{' && headerLength > 1 && headerLength < (ulong)fileLength)
            {
                return CheckpointFileFormat.Safetensors;
            }
        }

        throw new CheckpointFormatException(
            $"{path} is not a checkpoint: expected a PyTorch zip (torch.save), a safetensors file or a GenerateCT checkpoint ({n} bytes read)");
    }

    /// <summary>The tensor entries of an unpickled state dict, by name (other entries are skipped).</summary>
    internal static Dictionary<string, Tensor> TensorsByName(IDictionary table)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in table)
        {
            if (e.Key is string key && e.Value is Tensor t)
            {
                result[key] = t;
            }
        }

        return result;
    }

    /// <summary>All tensors of a checkpoint file (model section for native checkpoints), keyed by state-dict name.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        var format = DetectFormat(path);
        try
        {
            switch (format)
            {
                case CheckpointFileFormat.PyTorchZip:
                    {
                        using var stream = File.OpenRead(path);
                        var result = TensorsByName(PyTorchUnpickler.UnpickleStateDict(stream));

                        if (result.Count == 0)
                        {
                            throw new CheckpointFormatException($"{path} is a PyTorch file but holds no tensors keyed by name (expected a state dict)");
                        }

                        return result;
                    }

                case CheckpointFileFormat.Safetensors:
                    return new Dictionary<string, Tensor>(Safetensors.LoadStateDict(path), StringComparer.Ordinal);
                default:
                    {
                        using var checkpoint = ModelCheckpoint.Read(path);
                        return checkpoint.TakeState();
                    }
            }
        }
        catch (Exception e) when (e is not CheckpointFormatException and not OutOfMemoryException and not FileNotFoundException)
        {
            throw new CheckpointFormatException($"{path} could not be read as {format}: {e.Message} (truncated or corrupt file?)", e);
        }
    }

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="module"/> by key. Fails with a
    /// <see cref="CheckpointKeyMismatchException"/> naming every missing, unexpected or mis-shaped key,
    /// except keys for which <paramref name="optionalKeys"/> is true (loaded when both sides have them,
    /// skipped otherwise: the non-strict vgg.* / discr.* of CT-ViT).
    /// </summary>
    public static StateDictReport Apply(nn.Module module, IReadOnlyDictionary<string, Tensor> source, Func<string, bool>? optionalKeys = null, string sourceName = "state dict")
    {
        var target = module.state_dict();
        var report = StateDictReport.Compare(target, source, optionalKeys);
        if (!report.IsExact)
        {
            throw new CheckpointKeyMismatchException(report, sourceName);
        }

        using var noGrad = no_grad();
        foreach (var (key, t) in target)
        {
            if (source.TryGetValue(key, out var s))
            {
                t.copy_(s);
            }
        }

        return report;
    }

    /// <summary>Reads a checkpoint file and applies it (see <see cref="Apply"/>).</summary>
    public static StateDictReport Load(nn.Module module, string path, Func<string, bool>? optionalKeys = null)
    {
        var state = ReadStateDict(path);
        try
        {
            return Apply(module, state, optionalKeys, path);
        }
        finally
        {
            foreach (var t in state.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>Key report of a checkpoint file against a module, without loading anything.</summary>
    public static StateDictReport Inspect(nn.Module module, IReadOnlyDictionary<string, Tensor> source, Func<string, bool>? optionalKeys = null) =>
        StateDictReport.Compare(module.state_dict(), source, optionalKeys);
}

public enum CheckpointFileFormat
{
    PyTorchZip,
    Safetensors,
    Native,
}
