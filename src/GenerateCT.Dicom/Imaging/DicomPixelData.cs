using System.Buffers.Binary;
using JpegLibrary;

namespace GenerateCT.Dicom.Imaging;

/// <summary>
/// Pixel data (7FE0,0010) of a single- or multi-frame image as native Little Endian bytes:
/// uncompressed as stored, RLE Lossless decoded per PS3.5 Annex G, JPEG Lossless SV1 (Process 14,
/// first-order prediction, PS3.5 §A.4.1 / ITU T.81 Annex H) decoded with JpegLibrary. Any other
/// compressed syntax is refused with <see cref="DicomNotSupportedException"/>.
/// </summary>
public static class DicomPixelData
{
    /// <summary>The native bytes of frame <paramref name="frame"/> (Rows×Columns×Samples×BitsAllocated/8, LE).</summary>
    public static byte[] GetFrame(DicomDataset dataset, DicomTransferSyntax syntax, int frame = 0)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(syntax);
        int rows = dataset.GetInt32(DicomTag.Rows);
        int cols = dataset.GetInt32(DicomTag.Columns);
        int samples = dataset.TryGetInt32(DicomTag.SamplesPerPixel, out var spp) ? spp : 1;
        int bits = dataset.GetInt32(DicomTag.BitsAllocated);
        int frames = dataset.TryGetInt32(DicomTag.NumberOfFrames, out var nf) && nf > 0 ? nf : 1;
        if (bits is not (8 or 16))
        {
            throw new DicomNotSupportedException($"Bits Allocated {bits} is not supported (8 or 16 only)");
        }

        if (frame < 0 || frame >= frames)
        {
            throw new ArgumentOutOfRangeException(nameof(frame), $"frame {frame} of {frames}");
        }

        long frameBytes = (long)rows * cols * samples * (bits / 8);
        var element = dataset[DicomTag.PixelData] ?? throw new DicomParseException("the data set has no Pixel Data (7FE0,0010)", tag: DicomTag.PixelData);
        if (element is not DicomFragmentSequence fragments)
        {
            if (syntax.IsEncapsulated)
            {
                throw new DicomParseException($"{syntax.Name} requires encapsulated pixel data, found native {element.VR}", tag: DicomTag.PixelData);
            }

            if (element.Value.Length < frameBytes * (frame + 1))
            {
                throw new DicomParseException($"pixel data has {element.Value.Length} bytes, {frames} frame(s) of {rows}×{cols}×{samples}×{bits} bits need {frameBytes * frames}", tag: DicomTag.PixelData);
            }

            return element.Value.Slice((int)(frameBytes * frame), (int)frameBytes).ToArray();
        }

        var compressed = fragments.GetFrames(frames)[frame];
        if (syntax.Equals(DicomTransferSyntax.RLELossless))
        {
            return DecodeRle(compressed, rows, cols, samples, bits);
        }

        if (syntax.Equals(DicomTransferSyntax.JPEGLosslessSV1))
        {
            return DecodeJpegLossless(compressed, rows, cols, samples, bits);
        }

        throw new DicomNotSupportedException($"pixel data in {syntax} cannot be decoded here; ask the sender to transcode to Explicit VR Little Endian, RLE Lossless or JPEG Lossless SV1");
    }

    /// <summary>Stored values of a single-sample frame as int (sign applied per Pixel Representation).</summary>
    public static int[] GetStoredValues(DicomDataset dataset, DicomTransferSyntax syntax, int frame = 0)
    {
        var bytes = GetFrame(dataset, syntax, frame);
        int bits = dataset.GetInt32(DicomTag.BitsAllocated);
        int stored = dataset.TryGetInt32(DicomTag.BitsStored, out var bs) ? bs : bits;
        bool signed = dataset.TryGetInt32(DicomTag.PixelRepresentation, out var pr) && pr == 1;
        int n = bytes.Length / (bits / 8);
        var values = new int[n];
        int shift = 32 - stored;
        for (int i = 0; i < n; i++)
        {
            int raw = bits == 16 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)) : bytes[i];
            values[i] = signed ? (raw << shift) >> shift : raw & (int)((1L << stored) - 1);
        }

        return values;
    }

    /// <summary>A copy of <paramref name="dataset"/> with native (uncompressed) pixel data, to store as Explicit VR LE.</summary>
    public static DicomDataset Decompress(DicomDataset dataset, DicomTransferSyntax syntax)
    {
        if (dataset[DicomTag.PixelData] is not DicomFragmentSequence)
        {
            return dataset.Clone();
        }

        int frames = dataset.TryGetInt32(DicomTag.NumberOfFrames, out var nf) && nf > 0 ? nf : 1;
        var parts = Enumerable.Range(0, frames).Select(f => GetFrame(dataset, syntax, f)).ToList();
        var native = new byte[parts.Sum(p => p.Length)];
        int o = 0;
        foreach (var p in parts)
        {
            p.CopyTo(native, o);
            o += p.Length;
        }

        var copy = dataset.Clone();
        int bits = dataset.GetInt32(DicomTag.BitsAllocated);
        copy.SetBytes(DicomTag.PixelData, bits > 8 ? DicomVR.OW : DicomVR.OB, native);
        if (syntax.Equals(DicomTransferSyntax.RLELossless) || syntax.Equals(DicomTransferSyntax.JPEGLosslessSV1))
        {
            // RLE and JPEG decode colour to planar 0 / RGB order here; say so (PS3.3 §C.7.6.3.1.3).
            if (copy.Contains(DicomTag.PlanarConfiguration))
            {
                copy.SetInt(DicomTag.PlanarConfiguration, 0);
            }
        }

        return copy;
    }

    /// <summary>RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, one PackBits segment per byte plane, most significant first.</summary>
    internal static byte[] DecodeRle(ReadOnlySpan<byte> data, int rows, int cols, int samples, int bits)
    {
        if (data.Length < 64)
        {
            throw new DicomParseException($"RLE frame of {data.Length} bytes is shorter than its 64-byte header (PS3.5 §G.5)");
        }

        int bytesPerSample = bits / 8;
        int segments = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (segments != samples * bytesPerSample || segments > 15)
        {
            throw new DicomParseException($"RLE header declares {segments} segments, {samples} sample(s) × {bytesPerSample} byte(s) need {samples * bytesPerSample}");
        }

        int pixels = rows * cols;
        var output = new byte[pixels * samples * bytesPerSample];
        var plane = new byte[pixels];
        for (int s = 0; s < segments; s++)
        {
            int start = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[(4 + 4 * s)..]);
            int end = s + 1 < segments ? (int)BinaryPrimitives.ReadUInt32LittleEndian(data[(8 + 4 * s)..]) : data.Length;
            if (start < 64 || end > data.Length || end < start)
            {
                throw new DicomParseException($"RLE segment {s} offsets {start}..{end} lie outside the {data.Length}-byte frame");
            }

            UnpackBits(data[start..end], plane, s);

            // Segment order: sample 0's MSB … LSB, then sample 1 (§G.2). Output: interleaved LE samples.
            int sample = s / bytesPerSample;
            int byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
            for (int p = 0; p < pixels; p++)
            {
                output[(p * samples + sample) * bytesPerSample + byteInSample] = plane[p];
            }
        }

        return output;
    }

    private static void UnpackBits(ReadOnlySpan<byte> src, byte[] dst, int segment)
    {
        int i = 0, o = 0;
        while (i < src.Length && o < dst.Length)
        {
            sbyte n = (sbyte)src[i++];
            if (n >= 0)
            {
                int count = n + 1;
                if (i + count > src.Length || o + count > dst.Length)
                {
                    throw new DicomParseException($"RLE segment {segment}: literal run of {count} overruns the data");
                }

                src.Slice(i, count).CopyTo(dst.AsSpan(o));
                i += count;
                o += count;
            }
            else if (n != -128)
            {
                int count = 1 - n;
                if (i >= src.Length || o + count > dst.Length)
                {
                    throw new DicomParseException($"RLE segment {segment}: replicate run of {count} overruns the data");
                }

                dst.AsSpan(o, count).Fill(src[i++]);
                o += count;
            }
        }

        if (o != dst.Length)
        {
            throw new DicomParseException($"RLE segment {segment} decodes to {o} bytes, the image needs {dst.Length} (truncated)");
        }
    }

    internal static byte[] DecodeJpegLossless(byte[] data, int rows, int cols, int samples, int bits)
    {
        var decoder = new JpegDecoder();
        decoder.SetInput(data);
        try
        {
            decoder.Identify();
        }
        catch (InvalidDataException ex)
        {
            throw new DicomParseException($"JPEG Lossless frame is not a valid JPEG stream: {ex.Message}", inner: ex);
        }

        if (decoder.Width != cols || decoder.Height != rows || decoder.NumberOfComponents != samples)
        {
            throw new DicomParseException($"JPEG frame is {decoder.Width}×{decoder.Height}×{decoder.NumberOfComponents}, the data set says {cols}×{rows}×{samples}");
        }

        var writer = new SampleWriter(cols, rows, samples, bits / 8);
        decoder.SetOutputWriter(writer);
        try
        {
            decoder.Decode();
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            throw new DicomParseException($"JPEG Lossless frame failed to decode: {ex.Message}", inner: ex);
        }

        return writer.Output;
    }

    /// <summary>Receives 8×8 blocks of decoded samples and lays them out as interleaved LE pixels.</summary>
    private sealed class SampleWriter(int width, int height, int samples, int bytesPerSample) : JpegBlockOutputWriter
    {
        public byte[] Output { get; } = new byte[width * height * samples * bytesPerSample];

        public override void WriteBlock(ref short blockRef, int componentIndex, int x, int y)
        {
            var block = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref blockRef, 64);
            int h = Math.Min(8, height - y);
            int w = Math.Min(8, width - x);
            for (int r = 0; r < h; r++)
            {
                for (int c = 0; c < w; c++)
                {
                    ushort v = (ushort)block[r * 8 + c];
                    int o = (((y + r) * width + x + c) * samples + componentIndex) * bytesPerSample;
                    Output[o] = (byte)v;
                    if (bytesPerSample == 2)
                    {
                        Output[o + 1] = (byte)(v >> 8);
                    }
                }
            }
        }
    }
}
