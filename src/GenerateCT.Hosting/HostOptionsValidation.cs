namespace GenerateCT.Hosting;

/// <summary>Checks shared by the hosts' options.</summary>
public static class HostOptionsValidation
{
    public static void Port(string key, int value, bool allowZero = true)
    {
        if (value < (allowZero ? 0 : 1) || value > 65535)
        {
            throw new ConfigurationException(key, $"{value} is not a TCP port (1–65535{(allowZero ? ", or 0 for any free port" : "")})");
        }
    }

    public static void NotEmpty(string key, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ConfigurationException(key, "must not be empty");
        }
    }

    public static void IpAddress(string key, string? value)
    {
        if (!System.Net.IPAddress.TryParse(value, out _))
        {
            throw new ConfigurationException(key, $"'{value}' is not an IP address");
        }
    }

    public static void ExistingFile(string key, string? path)
    {
        if (!string.IsNullOrEmpty(path) && !File.Exists(path))
        {
            throw new ConfigurationException(key, $"file '{path}' does not exist");
        }
    }
}
