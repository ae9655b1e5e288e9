using System.Buffers.Binary;

namespace GenerateCT.Dicom.IO;

/// <summary>
/// Encodes a data set in Implicit or Explicit VR Little Endian (PS3.5 §7). Sequences and items are
/// written with undefined length and delimiters (§7.5.1), encapsulated pixel data as an offset
/// table item and fragment items (§A.4). Big Endian is read-only (retired, PS3.5 §A.3).
/// </summary>
internal sealed class DicomDatasetWriter
{
    private readonly Stream _out;
    private readonly bool _explicitVR;
    private readonly byte[] _header = new byte[12];

    public DicomDatasetWriter(Stream output, DicomTransferSyntax syntax)
    {
        if (syntax.IsBigEndian)
        {
            throw new DicomNotSupportedException($"writing {syntax.Name} is not supported (retired); write Explicit VR Little Endian instead");
        }

        _out = output;
        _explicitVR = syntax.IsExplicitVR;
    }

    public static void Write(Stream output, DicomDataset dataset, DicomTransferSyntax syntax) =>
        new DicomDatasetWriter(output, syntax).WriteDataset(dataset);

    public void WriteDataset(DicomDataset dataset)
    {
        foreach (var e in dataset)
        {
            WriteElement(e);
        }
    }

    /// <summary>Encoded byte length of a data set (for group lengths and defined-length items).</summary>
    public static long Measure(DicomDataset dataset, DicomTransferSyntax syntax)
    {
        using var counter = new CountingStream();
        Write(counter, dataset, syntax);
        return counter.Length;
    }

    private void WriteElement(DicomElement e)
    {
        switch (e)
        {
            case DicomSequence sq:
                WriteHeader(e.Tag, DicomVR.SQ, 0xFFFFFFFF);
                foreach (var item in sq.Items)
                {
                    WriteItemHeader(DicomTag.Item, 0xFFFFFFFF);
                    WriteDataset(item);
                    WriteItemHeader(DicomTag.ItemDelimitationItem, 0);
                }

                WriteItemHeader(DicomTag.SequenceDelimitationItem, 0);
                break;
            case DicomFragmentSequence f:
                if (!_explicitVR)
                {
                    throw new DicomNotSupportedException("encapsulated pixel data needs an explicit VR encapsulated transfer syntax (PS3.5 §A.4)");
                }

                WriteHeader(e.Tag, e.VR, 0xFFFFFFFF);
                WriteItemHeader(DicomTag.Item, (uint)(f.OffsetTable.Count * 4));
                Span<byte> four = stackalloc byte[4];
                foreach (var o in f.OffsetTable)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(four, o);
                    _out.Write(four);
                }

                foreach (var frag in f.Fragments)
                {
                    WriteItemHeader(DicomTag.Item, (uint)(frag.Length + (frag.Length & 1)));
                    _out.Write(frag.Span);
                    if ((frag.Length & 1) != 0)
                    {
                        _out.WriteByte(0);
                    }
                }

                WriteItemHeader(DicomTag.SequenceDelimitationItem, 0);
                break;
            default:
                var v = e.Value.Span;
                int pad = v.Length & 1;
                var vr = e.VR;
                if (_explicitVR && !vr.HasLongLength() && v.Length + pad > ushort.MaxValue)
                {
                    // A short-length VR cannot hold this value in explicit VR (PS3.5 §6.2 note): fall back to UN.
                    vr = DicomVR.UN;
                }

                WriteHeader(e.Tag, vr, (uint)(v.Length + pad));
                _out.Write(v);
                if (pad != 0)
                {
                    _out.WriteByte(e.VR.PaddingByte());
                }

                break;
        }
    }

    private void WriteHeader(DicomTag tag, DicomVR vr, uint length)
    {
        var h = _header.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(h, tag.Group);
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], tag.Element);
        if (!_explicitVR)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], length);
            _out.Write(h[..8]);
            return;
        }

        var name = vr.ToString();
        h[4] = (byte)name[0];
        h[5] = (byte)name[1];
        if (vr.HasLongLength())
        {
            h[6] = 0;
            h[7] = 0;
            BinaryPrimitives.WriteUInt32LittleEndian(h[8..], length);
            _out.Write(h[..12]);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], checked((ushort)length));
            _out.Write(h[..8]);
        }
    }

    private void WriteItemHeader(DicomTag tag, uint length)
    {
        var h = _header.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(h, tag.Group);
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], tag.Element);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], length);
        _out.Write(h[..8]);
    }

    private sealed class CountingStream : Stream
    {
        private long _length;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => _length += count;

        public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;

        public override void WriteByte(byte value) => _length++;
    }
}
