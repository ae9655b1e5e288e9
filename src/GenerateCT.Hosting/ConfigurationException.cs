namespace GenerateCT.Hosting;

/// <summary>Invalid host configuration: the message names the configuration key and what is wrong.</summary>
/// <remarks>The root exception type of GenerateCT.Hosting.</remarks>
public sealed class ConfigurationException(string key, string problem)
    : Exception($"configuration key '{key}': {problem}")
{
    public string Key { get; } = key;
}
