using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Checkpoints;

/// <summary>What a checkpoint holds: which stage and named config, where training stood.</summary>
public sealed record CheckpointInfo
{
    /// <summary>The <see cref="Training.ModelStage"/> name of the weights.</summary>
    public required string Stage { get; init; }

    /// <summary>The named config ("paper", "tiny", ...).</summary>
    public required string Config { get; init; }

    public long Step { get; init; }

    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Free-form numbers worth keeping (last loss, PSNR, ...).</summary>
    public Dictionary<string, double> Metrics { get; init; } = [];

    /// <summary>Names of the extra sections (e.g. optimizer states), filled on write.</summary>
    public List<string> Sections { get; init; } = [];
}

/// <summary>
/// Our checkpoint format: the magic <c>GCTCKPT1</c>, a length-prefixed JSON <see cref="CheckpointInfo"/>,
/// the model state dict as (key, TorchSharp-serialised tensor) pairs in PyTorch order, then named opaque
/// sections (optimizer states for resume) and an end marker, so a truncated file is detected.
/// </summary>
public sealed class ModelCheckpoint : IDisposable
{
    internal static ReadOnlySpan<byte> Magic => "GCTCKPT1"u8;

    private const string EndMarker = "GCTCKPT-END";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    private Dictionary<string, Tensor>? _state;

    private ModelCheckpoint(CheckpointInfo info, Dictionary<string, Tensor> state, Dictionary<string, byte[]> sections)
    {
        Info = info;
        _state = state;
        Sections = sections;
    }

    public CheckpointInfo Info { get; }

    public IReadOnlyDictionary<string, Tensor> State => _state ?? throw new ObjectDisposedException(nameof(ModelCheckpoint));

    public IReadOnlyDictionary<string, byte[]> Sections { get; }

    /// <summary>Writes the module's state dict (optionally without some keys) and extra sections atomically (temp file + rename).</summary>
    public static void Save(string path, nn.Module module, CheckpointInfo info, IReadOnlyDictionary<string, byte[]>? sections = null, Func<string, bool>? excludeKeys = null) =>
        Save(path, [.. StateDictLayout.Ordered(module).Where(kv => excludeKeys?.Invoke(kv.Key) != true)], info, sections);

    /// <summary>Writes a state dict given as (key, tensor) pairs, in that order, atomically (temp file + rename).</summary>
    public static void Save(string path, IReadOnlyList<KeyValuePair<string, Tensor>> entries, CheckpointInfo info, IReadOnlyDictionary<string, byte[]>? sections = null)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp-" + Environment.ProcessId;
        sections ??= new Dictionary<string, byte[]>();
        var header = info with { Sections = [.. sections.Keys] };
        try
        {
            using (var stream = File.Create(temp))
            using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: false))
            {
                writer.Write(Magic);
                var json = JsonSerializer.SerializeToUtf8Bytes(header, Json);
                writer.Write(json.Length);
                writer.Write(json);
                writer.Write(entries.Count);
                foreach (var (key, tensor) in entries)
                {
                    writer.Write(key);
                    using var cpu = tensor.detach().cpu().contiguous();
                    cpu.Save(writer);
                }

                writer.Write(sections.Count);
                foreach (var (name, bytes) in sections)
                {
                    writer.Write(name);
                    writer.Write(bytes.Length);
                    writer.Write(bytes);
                }

                writer.Write(EndMarker);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>; a truncated or foreign file gives a <see cref="CheckpointFormatException"/>.</summary>
    public static ModelCheckpoint Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"checkpoint {path} does not exist", path);
        }

        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            var magic = reader.ReadBytes(Magic.Length);
            if (!magic.AsSpan().SequenceEqual(Magic))
            {
                throw new CheckpointFormatException($"{path} is not a GenerateCT checkpoint (no GCTCKPT1 header)");
            }

            int jsonLength = reader.ReadInt32();
            long remaining = stream.Length - stream.Position;
            if (jsonLength <= 0 || jsonLength > remaining)
            {
                throw new CheckpointFormatException($"{path} is truncated or corrupt: its header announces {jsonLength} bytes but {remaining} remain");
            }

            var info = JsonSerializer.Deserialize<CheckpointInfo>(reader.ReadBytes(jsonLength), Json)
                ?? throw new CheckpointFormatException($"{path}: empty checkpoint header");
            int count = reader.ReadInt32();
            for (int i = 0; i < count; i++)
            {
                var key = reader.ReadString();
                state[key] = TensorExtensionMethods.Load(reader);
            }

            int sectionCount = reader.ReadInt32();
            var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            for (int i = 0; i < sectionCount; i++)
            {
                var name = reader.ReadString();
                int length = reader.ReadInt32();
                var bytes = reader.ReadBytes(length);
                if (bytes.Length != length)
                {
                    throw new EndOfStreamException();
                }

                sections[name] = bytes;
            }

            if (reader.ReadString() != EndMarker)
            {
                throw new CheckpointFormatException($"{path}: checkpoint end marker missing (truncated or corrupt file)");
            }

            return new ModelCheckpoint(info, state, sections);
        }
        catch (Exception e) when (e is not CheckpointFormatException)
        {
            foreach (var t in state.Values)
            {
                t.Dispose();
            }

            throw e is EndOfStreamException or IOException
                ? new CheckpointFormatException($"{path} is truncated: it ends before the checkpoint does ({e.Message}); re-copy or re-save it", e)
                : new CheckpointFormatException($"{path} is a corrupt GenerateCT checkpoint: {e.Message}", e);
        }
        catch
        {
            foreach (var t in state.Values)
            {
                t.Dispose();
            }

            throw;
        }
    }

    /// <summary>Hands the state tensors to the caller (who then owns and disposes them).</summary>
    public Dictionary<string, Tensor> TakeState()
    {
        var s = _state ?? throw new ObjectDisposedException(nameof(ModelCheckpoint));
        _state = null;
        return s;
    }

    public void Dispose()
    {
        if (_state is not null)
        {
            foreach (var t in _state.Values)
            {
                t.Dispose();
            }

            _state = null;
        }
    }
}
