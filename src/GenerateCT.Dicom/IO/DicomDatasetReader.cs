using System.Buffers.Binary;

namespace GenerateCT.Dicom.IO;

/// <summary>
/// Parses an encoded data set from memory (PS3.5 §7): explicit or implicit VR, little or big
/// endian, defined and undefined lengths, nested sequences and encapsulated pixel data. Every
/// length is checked against the bytes that remain, so truncation and huge declared lengths fail
/// with the element and offset instead of allocating.
/// </summary>
internal sealed class DicomDatasetReader
{
    private const uint UndefinedLength = 0xFFFFFFFF;
    private readonly ReadOnlyMemory<byte> _buffer;
    private readonly bool _explicitVR;
    private readonly bool _bigEndian;
    private readonly DicomReadOptions _options;
    private readonly long _reportOffset;
    private int _pos;
    private bool _sawItemDelimiter;

    public DicomDatasetReader(ReadOnlyMemory<byte> buffer, DicomTransferSyntax syntax, DicomReadOptions? options = null, long reportOffset = 0)
    {
        _buffer = buffer;
        _explicitVR = syntax.IsExplicitVR;
        _bigEndian = syntax.IsBigEndian;
        _options = options ?? DicomReadOptions.Default;
        _reportOffset = reportOffset;
    }

    public int Position => _pos;

    public static DicomDataset Read(ReadOnlyMemory<byte> buffer, DicomTransferSyntax syntax, DicomReadOptions? options = null)
    {
        var r = new DicomDatasetReader(buffer, syntax, options);
        var ds = r.ReadDataset(buffer.Length, 0);
        if (r._pos != buffer.Length)
        {
            throw r.Error("item delimiter outside any sequence", r._pos - 8);
        }

        return ds;
    }

    /// <summary>Reads elements until <paramref name="end"/>, an item delimiter, or (for the meta header) the first element outside group 0002.</summary>
    public DicomDataset ReadDataset(int end, int depth, bool metaOnly = false)
    {
        var ds = new DicomDataset();
        DicomTag? previous = null;
        while (_pos < end)
        {
            if (end - _pos < 4)
            {
                throw Error($"{end - _pos} stray bytes at the end of the data set", _pos);
            }

            var tag = PeekTag();
            if (metaOnly && tag.Group != 0x0002)
            {
                break;
            }

            if (tag == DicomTag.ItemDelimitationItem)
            {
                _pos += 8; // (FFFE,E00D) + 4-byte zero length
                _sawItemDelimiter = true;
                return ds;
            }

            if (tag.Group == 0xFFFE)
            {
                throw Error($"unexpected {tag} where a data element was expected", _pos, tag);
            }

            if (previous is { } p && tag <= p)
            {
                throw Error($"element {tag} follows {p}: elements out of ascending order (PS3.5 §7.1) — corrupt or misaligned data", _pos, tag);
            }

            previous = tag;
            var element = ReadElement(end, depth);
            if (element.Tag.Element == 0x0000 && element.Tag.Group > 0x0002)
            {
                continue; // group lengths are retired (PS3.5 §7.2) and would be stale after editing
            }

            ds.Add(element);
        }

        return ds;
    }

    private DicomElement ReadElement(int end, int depth)
    {
        int start = _pos;
        var tag = ReadTag();
        var (vr, length) = ReadVRAndLength(tag, end, start);
        if (length == UndefinedLength)
        {
            if (tag == DicomTag.PixelData && vr is DicomVR.OB or DicomVR.OW)
            {
                return ReadFragments(tag, vr, end, start);
            }

            if (vr is DicomVR.SQ or DicomVR.UN)
            {
                // UN with undefined length is an SQ encoded as Implicit VR LE (PS3.5 §6.2.2 note).
                return ReadSequence(tag, end, depth, start, undefinedLength: true, implicitContent: vr == DicomVR.UN);
            }

            throw Error($"undefined length is not allowed for {vr} element {tag}", start, tag);
        }

        if (length > end - _pos)
        {
            throw Error($"element {tag} {vr} declares {length} bytes but only {end - _pos} remain (truncated or wrong length)", start, tag);
        }

        bool implicitSequence = false;
        if (vr == DicomVR.UN && _explicitVR && !_bigEndian && DicomDictionary.Lookup(tag)?.VR is { } known && known != DicomVR.UN)
        {
            // A known attribute sent as UN: its value is Implicit VR LE encoded (PS3.5 §6.2.2), so use the dictionary VR.
            vr = known;
            implicitSequence = known == DicomVR.SQ;
        }

        if (vr == DicomVR.SQ)
        {
            return ReadSequence(tag, _pos + (int)length, depth, start, undefinedLength: false, implicitContent: implicitSequence);
        }

        return new DicomElement(tag, vr, ReadValue(tag, vr, length, start));
    }

    /// <summary>The VR (explicit, or from the dictionary for Implicit VR) and the value length of the element whose tag was just read.</summary>
    private (DicomVR VR, uint Length) ReadVRAndLength(DicomTag tag, int end, int start)
    {
        if (!_explicitVR)
        {
            var implicitVR = DicomDictionary.ImplicitVR(tag);
            Need(4, end, start, tag);
            return (implicitVR, ReadUInt32());
        }

        Need(2, end, start, tag);
        var span = _buffer.Span;
        if (!DicomVRInfo.TryParse(span[_pos], span[_pos + 1], out var vr))
        {
            throw Error($"invalid VR bytes 0x{span[_pos]:X2} 0x{span[_pos + 1]:X2} in element {tag}", start, tag);
        }

        _pos += 2;
        if (vr.HasLongLength())
        {
            Need(6, end, start, tag);
            _pos += 2;
            return (vr, ReadUInt32());
        }

        Need(2, end, start, tag);
        return (vr, ReadUInt16());
    }

    /// <summary>A defined-length, non-sequence value: odd lengths refused or padded, big-endian values swapped to little-endian.</summary>
    private ReadOnlyMemory<byte> ReadValue(DicomTag tag, DicomVR vr, uint length, int start)
    {
        if (_options.RejectOddLengths && (length & 1) != 0)
        {
            throw Error($"element {tag} {vr} has odd length {length} (PS3.5 §7.1.1 requires even lengths)", start, tag);
        }

        var value = _buffer.Slice(_pos, (int)length);
        _pos += (int)length;
        if ((length & 1) != 0)
        {
            // Tolerated like other toolkits do; padded now so that what we hold is what we write.
            var padded = new byte[length + 1];
            value.Span.CopyTo(padded);
            padded[^1] = vr.PaddingByte();
            value = padded;
        }
        if (_bigEndian && vr.ValueSize() > 1)
        {
            value = Swap(value, vr);
        }

        return value;
    }

    private DicomSequence ReadSequence(DicomTag tag, int end, int depth, int start, bool undefinedLength, bool implicitContent)
    {
        if (depth + 1 > _options.MaxSequenceDepth)
        {
            throw Error($"sequence {tag} nests deeper than {_options.MaxSequenceDepth} levels (refused as a nesting bomb)", start, tag);
        }

        var sq = new DicomSequence(tag);
        var itemReader = implicitContent && _explicitVR
            ? new DicomDatasetReader(_buffer, DicomTransferSyntax.ImplicitVRLittleEndian, _options, _reportOffset) { _pos = _pos }
            : this;
        while (true)
        {
            if (!undefinedLength && itemReader._pos >= end)
            {
                break;
            }

            itemReader.Need(8, end, itemReader._pos, tag);
            int itemStart = itemReader._pos;
            var itemTag = itemReader.ReadTag();
            uint itemLength = itemReader.ReadUInt32();
            if (itemTag == DicomTag.SequenceDelimitationItem)
            {
                if (!undefinedLength)
                {
                    throw Error($"sequence delimiter inside defined-length sequence {tag}", itemStart, tag);
                }

                break;
            }

            if (itemTag != DicomTag.Item)
            {
                throw Error($"expected an item (FFFE,E000) in sequence {tag}, found {itemTag}", itemStart, tag);
            }

            DicomDataset item;
            if (itemLength == UndefinedLength)
            {
                item = itemReader.ReadDatasetUntilDelimiter(end, depth + 1, tag);
            }
            else
            {
                if (itemLength > end - itemReader._pos)
                {
                    throw Error($"item of {tag} declares {itemLength} bytes but only {end - itemReader._pos} remain", itemStart, tag);
                }

                int itemEnd = itemReader._pos + (int)itemLength;
                item = itemReader.ReadDataset(itemEnd, depth + 1);
                if (itemReader._pos != itemEnd)
                {
                    throw Error($"item of {tag} ended at {itemReader._pos}, its length says {itemEnd}", itemStart, tag);
                }
            }

            sq.Items.Add(item);
        }

        _pos = itemReader._pos;
        if (!undefinedLength && _pos != end)
        {
            throw Error($"sequence {tag} content overruns its declared length", start, tag);
        }

        return sq;
    }

    private DicomDataset ReadDatasetUntilDelimiter(int end, int depth, DicomTag sequenceTag)
    {
        int before = _pos;
        _sawItemDelimiter = false;
        var item = ReadDataset(end, depth);
        bool delimited = _sawItemDelimiter;
        _sawItemDelimiter = false;

        // ReadDataset returns at the delimiter (consumed) or at end; reaching end means no delimiter.
        if (!delimited)
        {
            throw Error($"item of {sequenceTag} has no item delimiter before the end of data (truncated)", before, sequenceTag);
        }

        return item;
    }

    private DicomFragmentSequence ReadFragments(DicomTag tag, DicomVR vr, int end, int start)
    {
        var offsets = new List<uint>();
        var fragments = new List<ReadOnlyMemory<byte>>();
        bool first = true;
        while (true)
        {
            Need(8, end, _pos, tag);
            int itemStart = _pos;
            var itemTag = ReadTag();
            uint len = ReadUInt32();
            if (itemTag == DicomTag.SequenceDelimitationItem)
            {
                break;
            }

            if (itemTag != DicomTag.Item)
            {
                throw Error($"expected a fragment item in encapsulated {tag}, found {itemTag}", itemStart, tag);
            }

            if (len > end - _pos)
            {
                throw Error($"fragment of {tag} declares {len} bytes but only {end - _pos} remain (truncated)", itemStart, tag);
            }

            var data = _buffer.Slice(_pos, (int)len);
            _pos += (int)len;
            if (first)
            {
                if (len % 4 != 0)
                {
                    throw Error($"basic offset table of {tag} has length {len}, not a multiple of 4", itemStart, tag);
                }

                for (int i = 0; i < len; i += 4)
                {
                    offsets.Add(BinaryPrimitives.ReadUInt32LittleEndian(data.Span[i..]));
                }

                first = false;
            }
            else
            {
                fragments.Add(data);
            }
        }

        if (first)
        {
            throw Error($"encapsulated {tag} has no basic offset table item (PS3.5 §A.4)", start, tag);
        }

        return new DicomFragmentSequence(tag, vr, offsets, fragments);
    }

    private static ReadOnlyMemory<byte> Swap(ReadOnlyMemory<byte> value, DicomVR vr)
    {
        int size = vr == DicomVR.AT ? 2 : vr.ValueSize();
        var copy = value.ToArray();
        for (int i = 0; i + size <= copy.Length; i += size)
        {
            Array.Reverse(copy, i, size);
        }

        return copy;
    }

    private DicomTag PeekTag() => TagAt(_pos);

    private DicomTag TagAt(int at)
    {
        var s = _buffer.Span[at..];
        return _bigEndian
            ? new DicomTag(BinaryPrimitives.ReadUInt16BigEndian(s), BinaryPrimitives.ReadUInt16BigEndian(s[2..]))
            : new DicomTag(BinaryPrimitives.ReadUInt16LittleEndian(s), BinaryPrimitives.ReadUInt16LittleEndian(s[2..]));
    }

    private DicomTag ReadTag()
    {
        var t = TagAt(_pos);
        _pos += 4;
        return t;
    }

    private ushort ReadUInt16()
    {
        var s = _buffer.Span[_pos..];
        _pos += 2;
        return _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
    }

    private uint ReadUInt32()
    {
        var s = _buffer.Span[_pos..];
        _pos += 4;
        return _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    }

    private void Need(int bytes, int end, int start, DicomTag tag)
    {
        if (end - _pos < bytes)
        {
            throw Error($"truncated element {tag}: header needs {bytes} more bytes, {end - _pos} remain", start, tag);
        }
    }

    private DicomParseException Error(string message, int at, DicomTag? tag = null) =>
        new($"{message} at offset {_reportOffset + at}", _reportOffset + at, tag);
}
