namespace GenerateCT.Testing;

/// <summary>Temporary directories for tests, under /tmp so that service accounts can reach them.</summary>
public static class TempDirectory
{
    public static string Create(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(path);
        return path;
    }
}
