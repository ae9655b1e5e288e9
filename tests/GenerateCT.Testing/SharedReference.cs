namespace GenerateCT.Testing;

/// <summary>
/// The model porting fixtures in ../shared/reference beside the checkout (as CI provides them), found by
/// walking up from the test binaries. A missing folder is an error naming where it was looked for, never a skip.
/// </summary>
public static class SharedReference
{
    public static string PathOf(string fileName)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "reference", fileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"shared/reference/{fileName} not found above {AppContext.BaseDirectory}");
    }
}
