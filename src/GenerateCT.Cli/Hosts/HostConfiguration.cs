using Microsoft.Extensions.Configuration;

namespace GenerateCT.Cli.Hosts;

/// <summary>
/// Configuration for `gct node` / `gct coordinator`: an optional appsettings-style JSON file, then
/// environment variables prefixed GCT_ (e.g. GCT_Node__DicomPort=104), then command-line overrides.
/// </summary>
internal static class HostConfiguration
{
    public static IConfiguration Build(FileInfo? configFile, IEnumerable<KeyValuePair<string, string?>> overrides)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            if (!configFile.Exists)
            {
                throw new FileNotFoundException($"configuration file '{configFile.FullName}' does not exist", configFile.FullName);
            }

            builder.AddJsonFile(configFile.FullName, optional: false, reloadOnChange: false);
        }

        builder.AddEnvironmentVariables("GCT_");
        builder.AddInMemoryCollection(overrides.Where(kv => kv.Value is not null));
        return builder.Build();
    }
}
