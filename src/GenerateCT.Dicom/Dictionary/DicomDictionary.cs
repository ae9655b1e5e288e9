using System.Collections.Frozen;
using System.Globalization;

namespace GenerateCT.Dicom;

/// <summary>One PS3.6 data dictionary entry.</summary>
public sealed record DicomDictionaryEntry(DicomTag Tag, DicomVR VR, string VM, string Keyword, bool Retired);

internal sealed record DicomDictionaryRange(
    ushort GroupLow, ushort GroupHigh, int GroupStep, ushort ElementLow, ushort ElementHigh, int ElementStep,
    DicomVR VR, string VM, string Keyword, bool Retired)
{
    public bool Matches(DicomTag tag) =>
        tag.Group >= GroupLow && tag.Group <= GroupHigh && (tag.Group - GroupLow) % GroupStep == 0
        && tag.Element >= ElementLow && tag.Element <= ElementHigh && (tag.Element - ElementLow) % ElementStep == 0;
}

/// <summary>
/// The PS3.6 data dictionary (VR, VM, keyword of every standard attribute), generated from dcmtk's
/// <c>dicom.dic</c> by tools/dicom-dictionary/generate.py. Used to pick the VR of Implicit VR data
/// and to name attributes in dumps.
/// </summary>
public static partial class DicomDictionary
{
    private static FrozenDictionary<DicomTag, DicomDictionaryEntry> ByTag => Index.ByTag;

    private static FrozenDictionary<string, DicomDictionaryEntry> ByKeyword => Index.ByKeyword;

    /// <summary>Number of exact (non-repeating-group) entries.</summary>
    public static int Count => Index.Entries.Length;

    public static DicomDictionaryEntry? Lookup(DicomTag tag)
    {
        if (ByTag.TryGetValue(tag, out var e))
        {
            return e;
        }

        if (tag.Element == 0x0000)
        {
            return new DicomDictionaryEntry(tag, DicomVR.UL, "1", "GroupLength", false);
        }

        if (tag.IsPrivateCreator)
        {
            return new DicomDictionaryEntry(tag, DicomVR.LO, "1", "PrivateCreator", false);
        }

        foreach (var r in Index.Ranges)
        {
            if (r.Matches(tag))
            {
                return new DicomDictionaryEntry(tag, r.VR, r.VM, r.Keyword, r.Retired);
            }
        }

        return null;
    }

    public static DicomDictionaryEntry? Lookup(string keyword) => ByKeyword.GetValueOrDefault(keyword);

    /// <summary>The VR an Implicit VR reader assumes for <paramref name="tag"/>: the dictionary's, else UN (PS3.5 §6.2.2).</summary>
    public static DicomVR ImplicitVR(DicomTag tag) => Lookup(tag)?.VR ?? DicomVR.UN;

    // Parsed on first use from the generated text tables (see the generator for why they are text).
    private static class Index
    {
        public static readonly DicomDictionaryEntry[] Entries = ParseExact();

        public static readonly DicomDictionaryRange[] Ranges = ParseRanges();

        public static readonly FrozenDictionary<DicomTag, DicomDictionaryEntry> ByTag =
            Entries.ToFrozenDictionary(e => e.Tag);

        public static readonly FrozenDictionary<string, DicomDictionaryEntry> ByKeyword =
            Entries.GroupBy(e => e.Keyword, StringComparer.Ordinal).ToFrozenDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

        private static DicomDictionaryEntry[] ParseExact() =>
            [.. ExactTable.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(line =>
            {
                var f = line.Split(' ');
                return new DicomDictionaryEntry(new DicomTag(uint.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture)), Enum.Parse<DicomVR>(f[1]), f[2], f[3], f[4] == "1");
            })];

        private static DicomDictionaryRange[] ParseRanges() =>
            [.. RangeTable.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(line =>
            {
                var f = line.Split(' ');
                static ushort H(string s) => ushort.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                return new DicomDictionaryRange(H(f[0]), H(f[1]), int.Parse(f[2], CultureInfo.InvariantCulture), H(f[3]), H(f[4]), int.Parse(f[5], CultureInfo.InvariantCulture), Enum.Parse<DicomVR>(f[6]), f[7], f[8], f[9] == "1");
            })];
    }
}
