namespace GenerateCT.Testing;

/// <summary>
/// The parity fixtures made from the original GenerateCT code, kept in the repository at
/// tests/fixtures/reference (see its README). Found from the test binaries by walking up to the checkout
/// root (the folder holding GenerateCT.Federated.sln); nothing outside the checkout is read. A missing
/// file is an error naming it, never a skip.
/// </summary>
public static class ReferenceFixtures
{
    private const string SolutionFile = "GenerateCT.Federated.sln";

    private static readonly Lazy<string> Root = new(FindDirectory);

    /// <summary>tests/fixtures/reference of the checkout the tests were built from.</summary>
    public static string Directory => Root.Value;

    public static string PathOf(string fileName)
    {
        var path = Path.Combine(Directory, fileName);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"reference fixture {fileName} is missing from {Directory}", path);
    }

    private static string FindDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
            {
                return Path.Combine(dir.FullName, "tests", "fixtures", "reference");
            }
        }

        throw new DirectoryNotFoundException($"no checkout ({SolutionFile}) above {AppContext.BaseDirectory}: the reference fixtures live in its tests/fixtures/reference");
    }
}
