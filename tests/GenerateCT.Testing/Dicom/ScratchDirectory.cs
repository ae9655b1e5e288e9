namespace GenerateCT.Testing.Dicom;

/// <summary>A fresh directory from <see cref="TempDirectory"/>, deleted on dispose.</summary>
public sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory(string prefix = "gct")
    {
        Path = TempDirectory.Create(prefix);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a peer process may still hold a file; the OS temp cleaner gets it
        }
    }
}
