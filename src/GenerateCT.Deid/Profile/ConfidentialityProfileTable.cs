namespace GenerateCT.Deid.Profile;

/// <summary>Lookup over the generated rows of PS3.15 Table E.1-1.</summary>
internal static partial class ConfidentialityProfileTable
{

    /// <summary>The row that governs <paramref name="tag"/>, or null when the table does not list it (the attribute is kept).</summary>
    public static ProfileEntry? Find(uint tag)
    {
        if (IsPrivate(tag))
            return PrivateAttributes;
        if (Index.Exact.TryGetValue(tag, out var e))
            return e;
        foreach (var r in Index.Repeating)
        {
            if (r.Matches(tag))
                return r;
        }
        return null;
    }

    /// <summary>Built on first use, after the generated rows (static initialisers of partial files run in no guaranteed order).</summary>
    private static class Index
    {
        public static readonly Dictionary<uint, ProfileEntry> Exact = Entries.Where(e => e.Mask == 0xFFFFFFFFu).ToDictionary(e => e.Tag);
        public static readonly ProfileEntry[] Repeating = Entries.Where(e => e.Mask != 0xFFFFFFFFu).ToArray();
    }

    /// <summary>Odd groups are private (PS3.5 §7.8); groups 0001, 0003, 0005, 0007 and FFFF are not permitted in a dataset at all.</summary>
    public static bool IsPrivate(uint tag) => ((tag >> 16) & 1) == 1;
}
