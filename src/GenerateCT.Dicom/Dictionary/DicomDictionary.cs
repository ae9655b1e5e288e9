using System.Collections.Frozen;

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
    public static int Count => ExactEntries.Length;

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

        foreach (var r in RangeEntries)
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

    // Built on first use, after the generated tables (field initialisers of partial files have no defined order).
    private static class Index
    {
        public static readonly FrozenDictionary<DicomTag, DicomDictionaryEntry> ByTag =
            ExactEntries.ToFrozenDictionary(e => e.Tag);

        public static readonly FrozenDictionary<string, DicomDictionaryEntry> ByKeyword =
            ExactEntries.GroupBy(e => e.Keyword, StringComparer.Ordinal).ToFrozenDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
    }
}
