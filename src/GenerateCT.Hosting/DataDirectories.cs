namespace GenerateCT.Hosting;

/// <summary>Where a host keeps its state when the configuration names no directory.</summary>
public static class DataDirectories
{
    /// <summary>/var/lib/generatect/ROLE for root (service installs), else ~/.local/share/generatect/ROLE.</summary>
    public static string Default(string role) =>
        Environment.IsPrivilegedProcess
            ? Path.Combine("/var/lib/generatect", role)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "generatect", role);
}
