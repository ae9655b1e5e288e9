using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Globalization;

namespace GenerateCT.Dicom;

/// <summary>
/// One data element (PS3.5 §7.1): tag, VR and value. The value is kept as its Little Endian byte
/// encoding (even length, padded), so read → write reproduces it exactly; typed access goes through
/// <see cref="DicomDataset"/>, which knows the character set.
/// </summary>
public class DicomElement
{
    public DicomElement(DicomTag tag, DicomVR vr, ReadOnlyMemory<byte> value)
    {
        Tag = tag;
        VR = vr;
        Value = value;
    }

    public DicomTag Tag { get; }

    public DicomVR VR { get; }

    /// <summary>Value bytes in Little Endian order (empty for sequences and encapsulated pixel data).</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>Length of the value as encoded (PS3.5 §7.1.1); for SQ and fragments, the length of their content.</summary>
    public virtual long Length => Value.Length;

    /// <summary>Number of binary values for fixed-size VRs (US, FL, AT…), else 0.</summary>
    public int BinaryValueCount => VR.ValueSize() == 0 ? 0 : Value.Length / VR.ValueSize();

    internal virtual DicomElement DeepClone() => this; // immutable

    public override string ToString() => $"{Tag} {VR} #{Length} {DicomDictionary.Lookup(Tag)?.Keyword}";

    /// <summary>Binary value <paramref name="index"/> as a double, for US/SS/UL/SL/FL/FD/SV/UV/OW/OF/OD/OL.</summary>
    internal double GetBinaryDouble(int index)
    {
        var s = VR.ValueSize();
        if (s == 0 || (index + 1) * s > Value.Length)
        {
            throw new InvalidOperationException($"{Tag} {VR} has no binary value #{index}");
        }

        var b = Value.Span.Slice(index * s, s);
        return VR switch
        {
            DicomVR.US or DicomVR.OW => BinaryPrimitives.ReadUInt16LittleEndian(b),
            DicomVR.SS => BinaryPrimitives.ReadInt16LittleEndian(b),
            DicomVR.UL or DicomVR.OL => BinaryPrimitives.ReadUInt32LittleEndian(b),
            DicomVR.SL => BinaryPrimitives.ReadInt32LittleEndian(b),
            DicomVR.FL or DicomVR.OF => BinaryPrimitives.ReadSingleLittleEndian(b),
            DicomVR.FD or DicomVR.OD => BinaryPrimitives.ReadDoubleLittleEndian(b),
            DicomVR.SV => BinaryPrimitives.ReadInt64LittleEndian(b),
            DicomVR.UV or DicomVR.OV => BinaryPrimitives.ReadUInt64LittleEndian(b),
            DicomVR.AT => BinaryPrimitives.ReadUInt16LittleEndian(b),
            _ => throw new InvalidOperationException($"{VR} is not numeric"),
        };
    }

    internal long GetBinaryInt64(int index)
    {
        var s = VR.ValueSize();
        if (s == 0 || (index + 1) * s > Value.Length)
        {
            throw new InvalidOperationException($"{Tag} {VR} has no binary value #{index}");
        }

        var b = Value.Span.Slice(index * s, s);
        return VR switch
        {
            DicomVR.SV => BinaryPrimitives.ReadInt64LittleEndian(b),
            DicomVR.UV or DicomVR.OV => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(b)),
            _ => (long)GetBinaryDouble(index),
        };
    }

    internal static string FormatDouble(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>A sequence of items (VR SQ, PS3.5 §7.5); each item is a nested data set.</summary>
public sealed class DicomSequence : DicomElement
{
    public DicomSequence(DicomTag tag, IEnumerable<DicomDataset>? items = null)
        : base(tag, DicomVR.SQ, ReadOnlyMemory<byte>.Empty)
    {
        Items = new ItemCollection(this);
        foreach (var i in items ?? [])
        {
            Items.Add(i);
        }
    }

    public Collection<DicomDataset> Items { get; }

    internal DicomDataset? Owner { get; set; }

    public override long Length => -1;

    internal override DicomElement DeepClone() => new DicomSequence(Tag, Items.Select(i => i.Clone()));

    private sealed class ItemCollection(DicomSequence sequence) : Collection<DicomDataset>
    {
        protected override void InsertItem(int index, DicomDataset item)
        {
            ArgumentNullException.ThrowIfNull(item);
            item.ParentSequence = sequence;
            base.InsertItem(index, item);
        }

        protected override void SetItem(int index, DicomDataset item)
        {
            ArgumentNullException.ThrowIfNull(item);
            item.ParentSequence = sequence;
            base.SetItem(index, item);
        }
    }
}

/// <summary>
/// Encapsulated pixel data (PS3.5 §A.4): a Basic Offset Table item followed by fragment items,
/// each frame's compressed bytes split over one or more fragments.
/// </summary>
public sealed class DicomFragmentSequence : DicomElement
{
    public DicomFragmentSequence(DicomTag tag, DicomVR vr, IEnumerable<uint>? offsetTable = null, IEnumerable<ReadOnlyMemory<byte>>? fragments = null)
        : base(tag, vr, ReadOnlyMemory<byte>.Empty)
    {
        OffsetTable = [.. offsetTable ?? []];
        Fragments = [.. fragments ?? []];
    }

    /// <summary>Basic Offset Table: byte offset of each frame's first fragment from the first fragment's item tag (may be empty).</summary>
    public List<uint> OffsetTable { get; }

    public List<ReadOnlyMemory<byte>> Fragments { get; }

    public override long Length => -1;

    internal override DicomElement DeepClone() => new DicomFragmentSequence(Tag, VR, OffsetTable, Fragments.Select(f => (ReadOnlyMemory<byte>)f.ToArray()));

    /// <summary>
    /// The compressed bytes of each frame. With an offset table, fragments are grouped by it; without
    /// one, a single frame gets all fragments and several frames get one fragment each (PS3.5 §A.4).
    /// </summary>
    public IReadOnlyList<byte[]> GetFrames(int numberOfFrames)
    {
        var frames = new List<byte[]>();
        if (OffsetTable.Count > 1 || (OffsetTable.Count == 1 && numberOfFrames == 1))
        {
            // Map offsets (from the first fragment's item tag, 8-byte item headers included) to fragment indices.
            var starts = new List<long>();
            long pos = 0;
            foreach (var f in Fragments)
            {
                starts.Add(pos);
                pos += 8 + f.Length;
            }

            for (int k = 0; k < OffsetTable.Count; k++)
            {
                int first = starts.IndexOf(OffsetTable[k]);
                int last = k + 1 < OffsetTable.Count ? starts.IndexOf(OffsetTable[k + 1]) : Fragments.Count;
                if (first < 0 || last < 0 || last < first)
                {
                    throw new DicomParseException($"basic offset table entry {k} ({OffsetTable[k]}) does not point at a fragment", tag: Tag);
                }

                frames.Add(Concat(Fragments.GetRange(first, last - first)));
            }
        }
        else if (numberOfFrames <= 1)
        {
            frames.Add(Concat(Fragments));
        }
        else if (Fragments.Count == numberOfFrames)
        {
            frames.AddRange(Fragments.Select(f => f.ToArray()));
        }
        else
        {
            throw new DicomParseException($"{numberOfFrames} frames in {Fragments.Count} fragments without a basic offset table: cannot tell frames apart", tag: Tag);
        }

        return frames;
    }

    private static byte[] Concat(IEnumerable<ReadOnlyMemory<byte>> parts)
    {
        var list = parts.ToList();
        var result = new byte[list.Sum(p => p.Length)];
        int o = 0;
        foreach (var p in list)
        {
            p.Span.CopyTo(result.AsSpan(o));
            o += p.Length;
        }

        return result;
    }
}
