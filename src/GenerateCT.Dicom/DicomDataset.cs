using System.Buffers.Binary;
using System.Collections;
using System.Globalization;
using System.Text;

namespace GenerateCT.Dicom;

/// <summary>
/// A data set (PS3.5 §7): elements kept in ascending tag order. Also used for sequence items and
/// for the File Meta Information. Typed getters and setters encode values per the element's VR
/// (from the dictionary when not given) and the data set's Specific Character Set.
/// </summary>
public sealed class DicomDataset : IEnumerable<DicomElement>
{
    private readonly SortedList<DicomTag, DicomElement> _elements = [];

    public DicomDataset()
    {
    }

    public DicomDataset(IEnumerable<DicomElement> elements)
    {
        foreach (var e in elements)
        {
            Add(e);
        }
    }

    public int Count => _elements.Count;

    /// <summary>The sequence this data set is an item of, if any (items inherit the character set).</summary>
    public DicomSequence? ParentSequence { get; internal set; }

    /// <summary>Encoding of SH/LO/ST/LT/PN/UC/UT text: this data set's (0008,0005), else the enclosing data set's.</summary>
    public Encoding TextEncoding
    {
        get
        {
            if (_elements.TryGetValue(DicomTag.SpecificCharacterSet, out var cs))
            {
                return DicomCharacterSet.GetEncoding(Encoding.ASCII.GetString(cs.Value.Span).TrimEnd(' ', '\0'));
            }

            return ParentSequence?.Owner?.TextEncoding ?? DicomCharacterSet.GetEncoding(null);
        }
    }

    public DicomElement? this[DicomTag tag] => _elements.GetValueOrDefault(tag);

    public bool Contains(DicomTag tag) => _elements.ContainsKey(tag);

    public bool TryGetElement(DicomTag tag, out DicomElement element) => _elements.TryGetValue(tag, out element!);

    /// <summary>Adds or replaces an element.</summary>
    public DicomDataset Add(DicomElement element)
    {
        ArgumentNullException.ThrowIfNull(element);
        if (element is DicomSequence sq)
        {
            sq.Owner = this;
        }

        _elements[element.Tag] = element;
        return this;
    }

    public bool Remove(DicomTag tag) => _elements.Remove(tag);

    /// <summary>Removes every top-level element matching <paramref name="predicate"/>; returns how many.</summary>
    public int RemoveAll(Func<DicomElement, bool> predicate)
    {
        var doomed = _elements.Values.Where(predicate).Select(e => e.Tag).ToList();
        foreach (var t in doomed)
        {
            _elements.Remove(t);
        }

        return doomed.Count;
    }

    public IEnumerator<DicomElement> GetEnumerator() => _elements.Values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// Every element, depth first in tag order, with the data set that holds it — sequence elements
    /// first, then the elements of their items. Materialised, so callers may modify while iterating.
    /// </summary>
    public IReadOnlyList<(DicomDataset Owner, DicomElement Element)> EnumerateAll()
    {
        var result = new List<(DicomDataset, DicomElement)>();
        Walk(this, result);
        return result;

        static void Walk(DicomDataset ds, List<(DicomDataset, DicomElement)> acc)
        {
            foreach (var e in ds._elements.Values)
            {
                acc.Add((ds, e));
                if (e is DicomSequence sq)
                {
                    foreach (var item in sq.Items)
                    {
                        Walk(item, acc);
                    }
                }
            }
        }
    }

    /// <summary>A deep copy (values are immutable and shared).</summary>
    public DicomDataset Clone()
    {
        var copy = new DicomDataset();
        foreach (var e in _elements.Values)
        {
            copy.Add(e.DeepClone());
        }

        return copy;
    }

    /// <summary>True when both have the same tags, VRs and value bytes, recursively.</summary>
    public bool ContentEquals(DicomDataset other) => DescribeFirstDifference(other) is null;

    /// <summary>Null when equal; else where the data sets first differ (for test messages and audit).</summary>
    public string? DescribeFirstDifference(DicomDataset other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var a = _elements.Values;
        var b = other._elements.Values;
        for (int i = 0; i < Math.Max(a.Count, b.Count); i++)
        {
            if (i >= a.Count)
            {
                return $"extra element {b[i].Tag}";
            }

            if (i >= b.Count)
            {
                return $"missing element {a[i].Tag}";
            }

            var (x, y) = (a[i], b[i]);
            if (x.Tag != y.Tag)
            {
                return $"element {x.Tag} vs {y.Tag}";
            }

            if (x.VR != y.VR)
            {
                return $"{x.Tag} VR {x.VR} vs {y.VR}";
            }

            switch (x, y)
            {
                case (DicomSequence sx, DicomSequence sy):
                    if (sx.Items.Count != sy.Items.Count)
                    {
                        return $"{x.Tag} has {sx.Items.Count} vs {sy.Items.Count} items";
                    }

                    for (int k = 0; k < sx.Items.Count; k++)
                    {
                        if (sx.Items[k].DescribeFirstDifference(sy.Items[k]) is { } d)
                        {
                            return $"{x.Tag} item {k}: {d}";
                        }
                    }

                    break;
                case (DicomFragmentSequence fx, DicomFragmentSequence fy):
                    if (!fx.OffsetTable.SequenceEqual(fy.OffsetTable) || fx.Fragments.Count != fy.Fragments.Count
                        || fx.Fragments.Zip(fy.Fragments).Any(p => !p.First.Span.SequenceEqual(p.Second.Span)))
                    {
                        return $"{x.Tag} fragments differ";
                    }

                    break;
                case (DicomSequence or DicomFragmentSequence, _) or (_, DicomSequence or DicomFragmentSequence):
                    return $"{x.Tag} element kinds differ";
                default:
                    if (!x.Value.Span.SequenceEqual(y.Value.Span))
                    {
                        return $"{x.Tag} value differs";
                    }

                    break;
            }
        }

        return null;
    }

    // ---- typed getters ----------------------------------------------------------------------

    /// <summary>The whole text value (all values joined by '\'), trailing padding removed; null if absent.</summary>
    public string? GetString(DicomTag tag)
    {
        if (!_elements.TryGetValue(tag, out var e) || e is DicomSequence or DicomFragmentSequence)
        {
            return null;
        }

        if (!e.VR.IsString())
        {
            if (e.VR.ValueSize() > 0 && e.VR != DicomVR.AT)
            {
                return string.Join('\\', Enumerable.Range(0, e.BinaryValueCount).Select(i => DicomElement.FormatDouble(e.GetBinaryDouble(i))));
            }

            return e.VR == DicomVR.AT ? string.Join('\\', Enumerable.Range(0, e.Value.Length / 4).Select(i => new DicomTag(
                BinaryPrimitives.ReadUInt16LittleEndian(e.Value.Span[(i * 4)..]), BinaryPrimitives.ReadUInt16LittleEndian(e.Value.Span[(i * 4 + 2)..])).ToString())) : null;
        }

        var enc = e.VR.UsesCharacterSet() ? TextEncoding : Encoding.Latin1;
        var text = enc.GetString(e.Value.Span).TrimEnd('\0', ' ');
        return e.VR is DicomVR.LT or DicomVR.ST or DicomVR.UT ? text : text.TrimStart(' ');
    }

    /// <summary>The values of a multi-valued text element, each trimmed; empty if absent.</summary>
    public string[] GetStrings(DicomTag tag)
    {
        var s = GetString(tag);
        if (string.IsNullOrEmpty(s))
        {
            return [];
        }

        var vr = _elements[tag].VR;
        return vr.IsSingleValuedText() ? [s] : s.Split('\\').Select(v => v.Trim(' ', '\0')).ToArray();
    }

    public bool TryGetString(DicomTag tag, out string value)
    {
        value = GetString(tag) ?? string.Empty;
        return _elements.ContainsKey(tag);
    }

    /// <summary>A UID value without its NUL padding; null if absent.</summary>
    public string? GetUid(DicomTag tag) => GetString(tag);

    /// <summary>Value <paramref name="index"/> of a binary (US/SS/UL/SL/SV/UV) or IS/DS element as an integer.</summary>
    public long GetInt64(DicomTag tag, int index = 0) => TryGetInt64(tag, out var v, index) ? v
        : throw new KeyNotFoundException($"{Describe(tag)} is absent or has no integer value #{index}");

    public int GetInt32(DicomTag tag, int index = 0) => checked((int)GetInt64(tag, index));

    public bool TryGetInt64(DicomTag tag, out long value, int index = 0)
    {
        value = 0;
        if (!_elements.TryGetValue(tag, out var e))
        {
            return false;
        }

        if (e.VR.ValueSize() > 0)
        {
            if ((index + 1) * e.VR.ValueSize() > e.Value.Length)
            {
                return false;
            }

            value = e.GetBinaryInt64(index);
            return true;
        }

        var parts = GetStrings(tag);
        if (index >= parts.Length)
        {
            return false;
        }

        if (long.TryParse(parts[index], NumberStyles.Integer, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }

        if (double.TryParse(parts[index], NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d))
        {
            value = (long)d;
            return true;
        }

        return false;
    }

    public bool TryGetInt32(DicomTag tag, out int value, int index = 0)
    {
        var ok = TryGetInt64(tag, out var v, index) && v >= int.MinValue && v <= int.MaxValue;
        value = ok ? (int)v : 0;
        return ok;
    }

    /// <summary>Value <paramref name="index"/> of a DS/IS/FL/FD/… element.</summary>
    public double GetDouble(DicomTag tag, int index = 0) => TryGetDouble(tag, out var v, index) ? v
        : throw new KeyNotFoundException($"{Describe(tag)} is absent or has no numeric value #{index}");

    public bool TryGetDouble(DicomTag tag, out double value, int index = 0)
    {
        value = 0;
        if (!_elements.TryGetValue(tag, out var e))
        {
            return false;
        }

        if (e.VR.ValueSize() > 0)
        {
            if ((index + 1) * e.VR.ValueSize() > e.Value.Length)
            {
                return false;
            }

            value = e.GetBinaryDouble(index);
            return true;
        }

        var parts = GetStrings(tag);
        return index < parts.Length && double.TryParse(parts[index], NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>All numeric values of a DS/IS/FL/FD/US/… element; empty if absent.</summary>
    public double[] GetDoubles(DicomTag tag)
    {
        if (!_elements.TryGetValue(tag, out var e))
        {
            return [];
        }

        int n = e.VR.ValueSize() > 0 ? e.BinaryValueCount : GetStrings(tag).Length;
        var r = new double[n];
        for (int i = 0; i < n; i++)
        {
            r[i] = GetDouble(tag, i);
        }

        return r;
    }

    public DicomSequence? GetSequence(DicomTag tag) => _elements.GetValueOrDefault(tag) as DicomSequence;

    public ReadOnlyMemory<byte> GetBytes(DicomTag tag) => _elements.TryGetValue(tag, out var e) ? e.Value : ReadOnlyMemory<byte>.Empty;

    // ---- typed setters ----------------------------------------------------------------------

    /// <summary>Sets a text element (VR from the dictionary unless given); several values are joined with '\'.</summary>
    public DicomDataset SetString(DicomTag tag, string value, DicomVR? vr = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        var v = vr ?? VRFor(tag);
        if (!v.IsString())
        {
            return SetNumbers(tag, v, value.Length == 0 ? [] : value.Split('\\').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray());
        }

        Encoding enc = Encoding.ASCII;
        if (v.UsesCharacterSet())
        {
            if (!Ascii.IsValid(value) && ParentSequence is null && !Contains(DicomTag.SpecificCharacterSet))
            {
                // Non-ASCII text in a data set using the default repertoire: switch to UTF-8 (ISO_IR 192).
                // Existing text is ASCII and its bytes are the same in UTF-8, so nothing needs re-encoding.
                SetString(DicomTag.SpecificCharacterSet, "ISO_IR 192");
            }

            enc = TextEncoding;
        }
        else if (!Ascii.IsValid(value))
        {
            throw new ArgumentException($"{Describe(tag)} ({v}) allows only the default character repertoire, got '{value}'", nameof(value));
        }

        var bytes = enc.GetBytes(value);
        return Add(new DicomElement(tag, v, Pad(bytes, v)));
    }

    public DicomDataset SetStrings(DicomTag tag, params string[] values) => SetString(tag, string.Join('\\', values));

    public DicomDataset SetUid(DicomTag tag, string uid)
    {
        if (!DicomUid.IsValid(uid))
        {
            throw new ArgumentException($"'{uid}' is not a valid UID (PS3.5 §9.1)", nameof(uid));
        }

        return SetString(tag, uid, DicomVR.UI);
    }

    /// <summary>Sets integer values: binary for US/SS/UL/SL/SV/UV/AT, text for IS/DS.</summary>
    public DicomDataset SetInt(DicomTag tag, params long[] values) => SetNumbers(tag, VRFor(tag), values.Select(v => (double)v).ToArray(), values);

    /// <summary>Sets numeric values: binary for FL/FD/US…, text for DS/IS (DS formatted to ≤ 16 characters).</summary>
    public DicomDataset SetDouble(DicomTag tag, params double[] values) => SetNumbers(tag, VRFor(tag), values);

    public DicomDataset SetBytes(DicomTag tag, DicomVR vr, ReadOnlyMemory<byte> value) => Add(new DicomElement(tag, vr, Pad(value, vr)));

    /// <summary>Sets a sequence with the given items (none: an empty sequence) and returns it.</summary>
    public DicomSequence SetSequence(DicomTag tag, params DicomDataset[] items)
    {
        var sq = new DicomSequence(tag, items);
        Add(sq);
        return sq;
    }

    private DicomDataset SetNumbers(DicomTag tag, DicomVR vr, double[] values, long[]? exact = null)
    {
        if (vr is DicomVR.DS or DicomVR.IS)
        {
            var text = string.Join('\\', values.Select(v => vr == DicomVR.IS ? ((long)Math.Round(v)).ToString(CultureInfo.InvariantCulture) : FormatDS(v)));
            return Add(new DicomElement(tag, vr, Pad(Encoding.ASCII.GetBytes(text), vr)));
        }

        int size = vr.ValueSize();
        if (size == 0)
        {
            throw new ArgumentException($"{Describe(tag)} has VR {vr}, which is not numeric", nameof(tag));
        }

        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            var span = bytes.AsSpan(i * size, size);
            double v = values[i];
            long l = exact?[i] ?? (long)v;
            switch (vr)
            {
                case DicomVR.US or DicomVR.OW or DicomVR.AT: BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)l)); break;
                case DicomVR.SS: BinaryPrimitives.WriteInt16LittleEndian(span, checked((short)l)); break;
                case DicomVR.UL or DicomVR.OL: BinaryPrimitives.WriteUInt32LittleEndian(span, checked((uint)l)); break;
                case DicomVR.SL: BinaryPrimitives.WriteInt32LittleEndian(span, checked((int)l)); break;
                case DicomVR.FL or DicomVR.OF: BinaryPrimitives.WriteSingleLittleEndian(span, (float)v); break;
                case DicomVR.FD or DicomVR.OD: BinaryPrimitives.WriteDoubleLittleEndian(span, v); break;
                case DicomVR.SV: BinaryPrimitives.WriteInt64LittleEndian(span, l); break;
                case DicomVR.UV or DicomVR.OV: BinaryPrimitives.WriteUInt64LittleEndian(span, checked((ulong)l)); break;
            }
        }

        return Add(new DicomElement(tag, vr, bytes));
    }

    /// <summary>DS: at most 16 characters (PS3.5 §6.2), shortest round-trip form that fits.</summary>
    internal static string FormatDS(double v)
    {
        var s = v.ToString("R", CultureInfo.InvariantCulture);
        for (int digits = 15; s.Length > 16 && digits > 0; digits--)
        {
            s = v.ToString("G" + digits, CultureInfo.InvariantCulture);
        }

        return s;
    }

    private static DicomVR VRFor(DicomTag tag) => DicomDictionary.Lookup(tag)?.VR
        ?? throw new ArgumentException($"{tag} is not in the dictionary: pass its VR explicitly", nameof(tag));

    private static ReadOnlyMemory<byte> Pad(ReadOnlyMemory<byte> bytes, DicomVR vr)
    {
        if (bytes.Length % 2 == 0)
        {
            return bytes;
        }

        var padded = new byte[bytes.Length + 1];
        bytes.Span.CopyTo(padded);
        padded[^1] = vr.PaddingByte();
        return padded;
    }

    private static string Describe(DicomTag tag) => $"{tag} {DicomDictionary.Lookup(tag)?.Keyword}".TrimEnd();
}
