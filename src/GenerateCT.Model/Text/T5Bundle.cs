using System.Collections;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GenerateCT.Model.Text;

/// <summary>
/// The frozen text encoder as hospital IT installs it once: a Hugging Face model directory of
/// google/t5-v1_1-base holding `config.json`, `spiece.model` and `model.safetensors` or
/// `pytorch_model.bin` (a full T5ForConditionalGeneration checkpoint is fine: decoder weights are ignored).
/// </summary>
public sealed class T5Bundle
{
    public const string ConfigFile = "config.json";
    public const string TokenizerFile = "spiece.model";
    public const string SafetensorsFile = "model.safetensors";
    public const string PickleFile = "pytorch_model.bin";

    private T5Bundle(T5Config config, T5Tokenizer tokenizer, T5Encoder encoder)
    {
        Config = config;
        Tokenizer = tokenizer;
        Encoder = encoder;
    }

    public T5Config Config { get; }

    public T5Tokenizer Tokenizer { get; }

    public T5Encoder Encoder { get; }

    /// <summary>Reads and validates a bundle; every failure names the file and what to install.</summary>
    public static T5Bundle Load(string directory)
    {
        const string Install = "install the google/t5-v1_1-base bundle (config.json, spiece.model, model.safetensors or pytorch_model.bin)";
        if (!Directory.Exists(directory))
        {
            throw new TextEncoderBundleException($"text encoder bundle directory '{directory}' does not exist; {Install} there");
        }

        string Require(string name)
        {
            var path = Path.Combine(directory, name);
            return File.Exists(path)
                ? path
                : throw new TextEncoderBundleException($"text encoder bundle '{directory}' is incomplete: {name} is missing; {Install}");
        }

        var configPath = Require(ConfigFile);
        var tokenizerPath = Require(TokenizerFile);
        var weightsPath = Path.Combine(directory, SafetensorsFile);
        if (!File.Exists(weightsPath))
        {
            weightsPath = Path.Combine(directory, PickleFile);
            if (!File.Exists(weightsPath))
            {
                throw new TextEncoderBundleException($"text encoder bundle '{directory}' is incomplete: neither {SafetensorsFile} nor {PickleFile} is present; {Install}");
            }
        }

        T5Config config;
        T5Tokenizer tokenizer;
        try
        {
            config = T5Config.FromHuggingFaceJson(File.ReadAllText(configPath), configPath);
        }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException)
        {
            throw new TextEncoderBundleException($"{configPath} is not a usable T5 config: {e.Message}", e);
        }

        try
        {
            tokenizer = T5Tokenizer.FromFile(tokenizerPath);
        }
        catch (InvalidDataException e)
        {
            throw new TextEncoderBundleException($"{tokenizerPath}: {e.Message}", e);
        }

        var encoder = new T5Encoder(config);
        try
        {
            var state = ReadState(weightsPath);
            try
            {
                encoder.LoadHuggingFaceState(state, weightsPath);
            }
            finally
            {
                foreach (var t in state.Values)
                {
                    t.Dispose();
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or InvalidOperationException or NotSupportedException or ArgumentException)
        {
            encoder.Dispose();
            throw new TextEncoderBundleException($"{weightsPath} could not be loaded: {e.Message}", e);
        }

        return new T5Bundle(config, tokenizer, encoder);
    }

    private static Dictionary<string, Tensor> ReadState(string path)
    {
        if (path.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            return Safetensors.LoadStateDict(path);
        }

        using var stream = File.OpenRead(path);
        var raw = PyTorchUnpickler.UnpickleStateDict(stream);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in raw)
        {
            if (e.Value is Tensor t)
            {
                state[(string)e.Key] = t;
            }
        }

        return state;
    }
}
