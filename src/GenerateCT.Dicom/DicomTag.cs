using System.Globalization;

namespace GenerateCT.Dicom;

/// <summary>A data element tag (group, element), PS3.5 §7.1. Ordered as the standard orders elements in a data set.</summary>
public readonly partial struct DicomTag : IEquatable<DicomTag>, IComparable<DicomTag>
{
    public DicomTag(ushort group, ushort element)
    {
        Group = group;
        Element = element;
    }

    public DicomTag(uint value)
        : this((ushort)(value >> 16), (ushort)value)
    {
    }

    public ushort Group { get; }

    public ushort Element { get; }

    /// <summary>The tag as the 32-bit number gggg eeee.</summary>
    public uint Value => ((uint)Group << 16) | Element;

    /// <summary>Odd groups above 0008 are private (PS3.5 §7.8).</summary>
    public bool IsPrivate => (Group & 1) == 1 && Group > 0x0008;

    /// <summary>A private creator element (gggg,0010-00FF) of an odd group (PS3.5 §7.8.1).</summary>
    public bool IsPrivateCreator => IsPrivate && Element >= 0x0010 && Element <= 0x00FF;

    /// <summary>Item, Item Delimitation and Sequence Delimitation tags (PS3.5 §7.5).</summary>
    internal static readonly DicomTag Item = new(0xFFFE, 0xE000);
    internal static readonly DicomTag ItemDelimitationItem = new(0xFFFE, 0xE00D);
    internal static readonly DicomTag SequenceDelimitationItem = new(0xFFFE, 0xE0DD);

    /// <summary>Parses "(gggg,eeee)", "gggg,eeee" or "ggggeeee" (hex), or a dictionary keyword such as "PatientName".</summary>
    public static DicomTag Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim().TrimStart('(').TrimEnd(')').Replace(",", string.Empty, StringComparison.Ordinal);
        if (t.Length == 8 && uint.TryParse(t, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var v))
        {
            return new DicomTag(v);
        }

        return DicomDictionary.Lookup(text.Trim())?.Tag
            ?? throw new FormatException($"'{text}' is neither a tag (gggg,eeee) nor a keyword of the PS3.6 dictionary");
    }

    public bool Equals(DicomTag other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is DicomTag t && Equals(t);

    public override int GetHashCode() => (int)Value;

    public int CompareTo(DicomTag other) => Value.CompareTo(other.Value);

    public override string ToString() => $"({Group:X4},{Element:X4})";

    public static bool operator ==(DicomTag a, DicomTag b) => a.Equals(b);

    public static bool operator !=(DicomTag a, DicomTag b) => !a.Equals(b);

    public static bool operator <(DicomTag a, DicomTag b) => a.Value < b.Value;

    public static bool operator >(DicomTag a, DicomTag b) => a.Value > b.Value;

    public static bool operator <=(DicomTag a, DicomTag b) => a.Value <= b.Value;

    public static bool operator >=(DicomTag a, DicomTag b) => a.Value >= b.Value;
}
