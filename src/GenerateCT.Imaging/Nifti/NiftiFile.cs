using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;

namespace GenerateCT.Imaging.Nifti;

/// <summary>What a NIfTI header says beyond the voxels and geometry.</summary>
public sealed record NiftiMetadata(string Description, string IntentName)
{
    /// <summary>
    /// True when the file was marked as synthetic output (ARCHITECTURE.md: synthetic outputs are always
    /// marked): intent_name is <see cref="NiftiFile.SyntheticIntent"/> or descrip starts with "SYNTHETIC".
    /// </summary>
    public bool IsSynthetic =>
        string.Equals(IntentName, NiftiFile.SyntheticIntent, StringComparison.Ordinal) ||
        Description.StartsWith(NiftiFile.SyntheticIntent, StringComparison.Ordinal);
}

/// <summary>How voxels are stored on disk.</summary>
public enum NiftiStorage
{
    /// <summary>32-bit float (datatype 16): exact for any volume.</summary>
    Float32,

    /// <summary>
    /// 16-bit signed integer (datatype 4), values rounded to whole units and clamped to the int16 range. CT
    /// numbers are integers on the scanner, so HU volumes lose nothing and take half the space.
    /// </summary>
    Int16,
}

/// <summary>A volume read from a NIfTI file, with its header metadata.</summary>
public sealed record NiftiImage(Volume Volume, NiftiMetadata Metadata);

/// <summary>
/// NIfTI-1 single-file (.nii, .nii.gz) reader and writer. Layout and semantics follow nifti1.h
/// (NIfTI DFWG, 2004): 348-byte header, 4-byte extension flag, voxels from vox_offset, i fastest.
/// NIfTI world space is RAS+ while DICOM patient space is LPS+, so the affine's x and y rows are negated
/// on the way in and out.
/// </summary>
public static class NiftiFile
{
    /// <summary>intent_name (16 bytes) and descrip prefix that mark a volume as generated, not acquired.</summary>
    public const string SyntheticIntent = "SYNTHETIC";

    private const int HeaderSize = 348;
    private const int VoxOffset = 352;
    private const short NiftiFloat32 = 16;
    private const short NiftiInt16 = 4;

    /// <summary>
    /// Writes <paramref name="volume"/> as NIfTI-1 (float32 unless <paramref name="storage"/> says int16); gzip when the path ends in ".gz".
    /// With <paramref name="syntheticDescription"/> set, the header is marked synthetic.
    /// </summary>
    public static async Task WriteAsync(Volume volume, string path, string? syntheticDescription = null, NiftiStorage storage = NiftiStorage.Float32, CancellationToken cancellationToken = default)
    {
        var description = syntheticDescription is null ? $"GenerateCT {volume.Unit}" : $"{SyntheticIntent} GenerateCT {syntheticDescription}";
        var intent = syntheticDescription is null ? string.Empty : SyntheticIntent;
        var header = BuildHeader(volume, description, intent, storage);
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        Stream target = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true)
            : file;
        try
        {
            await target.WriteAsync(header, cancellationToken);
            await WriteVoxelsAsync(target, volume.Voxels, storage, cancellationToken);
        }
        finally
        {
            if (!ReferenceEquals(target, file))
            {
                await target.DisposeAsync();
            }
        }
    }

    /// <summary>Reads a NIfTI-1 file (.nii or gzip-compressed; detected from its content, not its name).</summary>
    public static async Task<NiftiImage> ReadAsync(string path, CancellationToken cancellationToken = default)
    {
        byte[] raw = await File.ReadAllBytesAsync(path, cancellationToken);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var inflated = new MemoryStream();
            await gz.CopyToAsync(inflated, cancellationToken);
            raw = inflated.ToArray();
        }

        return Parse(raw, path);
    }

    private static byte[] BuildHeader(Volume v, string description, string intentName, NiftiStorage storage)
    {
        var h = new byte[VoxOffset];
        var s = h.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, HeaderSize);
        h[39] = (byte)'r'; // dim_info unused; regular = 'r' kept for ANALYZE readers
        BinaryPrimitives.WriteInt16LittleEndian(s[40..], 3);
        BinaryPrimitives.WriteInt16LittleEndian(s[42..], checked((short)v.Width));
        BinaryPrimitives.WriteInt16LittleEndian(s[44..], checked((short)v.Height));
        BinaryPrimitives.WriteInt16LittleEndian(s[46..], checked((short)v.Depth));
        for (int i = 4; i < 8; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(s[(40 + 2 * i)..], 1);
        }

        BinaryPrimitives.WriteInt16LittleEndian(s[70..], storage == NiftiStorage.Int16 ? NiftiInt16 : NiftiFloat32);
        BinaryPrimitives.WriteInt16LittleEndian(s[72..], (short)(storage == NiftiStorage.Int16 ? 16 : 32));

        // Affine in RAS: negate the x and y rows of the LPS affine.
        var m = v.IndexToLps();
        for (int c = 0; c < 4; c++)
        {
            m[c] = -m[c];
            m[4 + c] = -m[4 + c];
        }

        var (b, c2, d, qfac) = ToQuaternion(m, v.Spacing);
        WriteFloat(s, 76, (float)qfac);
        WriteFloat(s, 80, (float)v.Spacing.X);
        WriteFloat(s, 84, (float)v.Spacing.Y);
        WriteFloat(s, 88, (float)v.Spacing.Z);
        WriteFloat(s, 108, VoxOffset);
        WriteFloat(s, 112, 1f); // scl_slope
        WriteFloat(s, 116, 0f); // scl_inter
        h[123] = 2 | 8; // xyzt_units: mm, s
        WriteAscii(s.Slice(148, 80), description);
        BinaryPrimitives.WriteInt16LittleEndian(s[252..], 1); // qform_code: scanner anatomical
        BinaryPrimitives.WriteInt16LittleEndian(s[254..], 1); // sform_code: scanner anatomical
        WriteFloat(s, 256, (float)b);
        WriteFloat(s, 260, (float)c2);
        WriteFloat(s, 264, (float)d);
        WriteFloat(s, 268, (float)m[3]);
        WriteFloat(s, 272, (float)m[7]);
        WriteFloat(s, 276, (float)m[11]);
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 4; c++)
            {
                WriteFloat(s, 280 + (16 * r) + (4 * c), (float)m[(4 * r) + c]);
            }
        }

        WriteAscii(s.Slice(328, 16), intentName);
        "n+1\0"u8.CopyTo(s[344..]);
        return h;
    }

    /// <summary>
    /// Rotation part of the RAS affine → NIfTI quaternion (b, c, d) and qfac, as nifti1.h §"qform" defines:
    /// R = [column directions]; qfac = −1 flips the third column when det(R) &lt; 0.
    /// </summary>
    private static (double B, double C, double D, double Qfac) ToQuaternion(double[] m, (double Z, double Y, double X) spacing)
    {
        double r11 = m[0] / spacing.X, r21 = m[4] / spacing.X, r31 = m[8] / spacing.X;
        double r12 = m[1] / spacing.Y, r22 = m[5] / spacing.Y, r32 = m[9] / spacing.Y;
        double r13 = m[2] / spacing.Z, r23 = m[6] / spacing.Z, r33 = m[10] / spacing.Z;
        double det = (r11 * r22 * r33) - (r11 * r32 * r23) - (r21 * r12 * r33) + (r21 * r32 * r13) + (r31 * r12 * r23) - (r31 * r22 * r13);
        double qfac = 1;
        if (det < 0)
        {
            qfac = -1;
            r13 = -r13;
            r23 = -r23;
            r33 = -r33;
        }

        double a = r11 + r22 + r33 + 1, b, c, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a);
            b = 0.25 * (r32 - r23) / a;
            c = 0.25 * (r13 - r31) / a;
            d = 0.25 * (r21 - r12) / a;
        }
        else
        {
            double xd = 1 + r11 - (r22 + r33), yd = 1 + r22 - (r11 + r33), zd = 1 + r33 - (r11 + r22);
            if (xd > 1)
            {
                b = 0.5 * Math.Sqrt(xd);
                c = 0.25 * (r12 + r21) / b;
                d = 0.25 * (r13 + r31) / b;
                a = 0.25 * (r32 - r23) / b;
            }
            else if (yd > 1)
            {
                c = 0.5 * Math.Sqrt(yd);
                b = 0.25 * (r12 + r21) / c;
                d = 0.25 * (r23 + r32) / c;
                a = 0.25 * (r13 - r31) / c;
            }
            else
            {
                d = 0.5 * Math.Sqrt(zd);
                b = 0.25 * (r13 + r31) / d;
                c = 0.25 * (r23 + r32) / d;
                a = 0.25 * (r21 - r12) / d;
            }

            if (a < 0)
            {
                b = -b;
                c = -c;
                d = -d;
            }
        }

        return (b, c, d, qfac);
    }

    private static NiftiImage Parse(byte[] raw, string path)
    {
        bool little = ReadByteOrder(raw, path);
        var header = new HeaderReader(raw, little);
        var (w, h, d) = ReadDimensions(header, path);
        var voxels = ReadVoxels(raw, header, w, h, d, path);
        var volume = ToLpsVolume(ReadAffine(header, path), d, h, w, voxels);
        var s = raw.AsSpan();
        var metadata = new NiftiMetadata(ReadAscii(s.Slice(148, 80)), ReadAscii(s.Slice(328, 16)));
        return new NiftiImage(volume, metadata);
    }

    /// <summary>Checks the header size and magic of a single-file NIfTI-1; returns true for little-endian.</summary>
    private static bool ReadByteOrder(byte[] raw, string path)
    {
        if (raw.Length < HeaderSize)
        {
            throw new NiftiFormatException($"{path}: {raw.Length} bytes is shorter than the 348-byte NIfTI-1 header");
        }

        bool little = BinaryPrimitives.ReadInt32LittleEndian(raw) == HeaderSize;
        if (!little && BinaryPrimitives.ReadInt32BigEndian(raw) != HeaderSize)
        {
            throw new NiftiFormatException($"{path}: sizeof_hdr is not 348 in either byte order; not a NIfTI-1 file (NIfTI-2 is not supported)");
        }

        var s = raw.AsSpan();
        if (s[344] != (byte)'n' || (s[345] != (byte)'+' && s[345] != (byte)'i') || s[346] != (byte)'1')
        {
            throw new NiftiFormatException($"{path}: magic is not \"n+1\" or \"ni1\"; a bare ANALYZE 7.5 header has no orientation, convert it with a NIfTI tool first");
        }

        if (s[345] == (byte)'i')
        {
            throw new NiftiFormatException($"{path}: two-file NIfTI (.hdr/.img) is not supported; save it as a single .nii");
        }

        return little;
    }

    /// <summary>dim[1..3] of a single 3-D volume (every further dimension is 1).</summary>
    private static (int W, int H, int D) ReadDimensions(HeaderReader header, string path)
    {
        short I16(int o) => header.I16(o);

        int ndim = I16(40);
        if (ndim < 3 || ndim > 7)
        {
            throw new NiftiFormatException($"{path}: dim[0] = {ndim}; expected a 3-D volume");
        }

        for (int i = 4; i <= ndim; i++)
        {
            if (I16(40 + (2 * i)) > 1)
            {
                throw new NiftiFormatException($"{path}: dim[{i}] = {I16(40 + (2 * i))}; only single 3-D volumes are supported, split the series first");
            }
        }

        return (I16(42), I16(44), I16(46));
    }

    /// <summary>The voxels in file order, scaled by scl_slope/scl_inter (identity when the slope is 0 or not finite).</summary>
    private static float[] ReadVoxels(byte[] raw, HeaderReader header, int w, int h, int d, string path)
    {
        short I16(int o) => header.I16(o);
        float F32(int o) => header.F32(o);
        bool little = header.Little;
        var s = raw.AsSpan();
        short datatype = I16(70);
        long offset = (long)F32(108);
        long count = (long)w * h * d;
        int bytes = datatype switch
        {
            2 or 256 => 1,
            4 or 512 => 2,
            8 or 16 or 768 => 4,
            64 => 8,
            _ => throw new NiftiFormatException($"{path}: datatype {datatype} is not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64 are)"),
        };
        if (offset < HeaderSize || offset + (count * bytes) > raw.Length)
        {
            throw new NiftiFormatException($"{path}: voxel data (offset {offset}, {count}×{bytes} bytes) runs past the end of the {raw.Length}-byte file; the file is truncated");
        }

        float slope = F32(112), inter = F32(116);
        if (slope == 0 || !float.IsFinite(slope))
        {
            slope = 1;
            inter = 0;
        }

        var voxels = new float[count];
        var data = s.Slice((int)offset, (int)(count * bytes));
        for (long i = 0; i < count; i++)
        {
            int o = (int)(i * bytes);
            double v = datatype switch
            {
                2 => data[o],
                256 => (sbyte)data[o],
                4 => little ? BinaryPrimitives.ReadInt16LittleEndian(data[o..]) : BinaryPrimitives.ReadInt16BigEndian(data[o..]),
                512 => little ? BinaryPrimitives.ReadUInt16LittleEndian(data[o..]) : BinaryPrimitives.ReadUInt16BigEndian(data[o..]),
                8 => little ? BinaryPrimitives.ReadInt32LittleEndian(data[o..]) : BinaryPrimitives.ReadInt32BigEndian(data[o..]),
                768 => little ? BinaryPrimitives.ReadUInt32LittleEndian(data[o..]) : BinaryPrimitives.ReadUInt32BigEndian(data[o..]),
                16 => little ? BinaryPrimitives.ReadSingleLittleEndian(data[o..]) : BinaryPrimitives.ReadSingleBigEndian(data[o..]),
                _ => little ? BinaryPrimitives.ReadDoubleLittleEndian(data[o..]) : BinaryPrimitives.ReadDoubleBigEndian(data[o..]),
            };
            voxels[i] = (float)((v * slope) + inter);
        }

        return voxels;
    }

    /// <summary>The volume with the RAS affine turned into DICOM LPS spacing, origin and direction cosines.</summary>
    private static Volume ToLpsVolume(double[] affine, int d, int h, int w, float[] voxels)
    {
        // RAS → LPS: negate x and y rows.
        for (int c = 0; c < 4; c++)
        {
            affine[c] = -affine[c];
            affine[4 + c] = -affine[4 + c];
        }

        var volume = new Volume(d, h, w, voxels) { Unit = "HU" };
        double sx = Norm(affine[0], affine[4], affine[8]);
        double sy = Norm(affine[1], affine[5], affine[9]);
        double sz = Norm(affine[2], affine[6], affine[10]);
        volume.Spacing = (sz, sy, sx);
        volume.Origin = (affine[3], affine[7], affine[11]);
        volume.Direction =
        [
            affine[0] / sx, affine[4] / sx, affine[8] / sx,
            affine[1] / sy, affine[5] / sy, affine[9] / sy,
            affine[2] / sz, affine[6] / sz, affine[10] / sz,
        ];
        return volume;
    }

    private readonly record struct HeaderReader(byte[] Raw, bool Little)
    {
        public short I16(int o) => Little ? BinaryPrimitives.ReadInt16LittleEndian(Raw.AsSpan(o)) : BinaryPrimitives.ReadInt16BigEndian(Raw.AsSpan(o));

        public float F32(int o) => Little ? BinaryPrimitives.ReadSingleLittleEndian(Raw.AsSpan(o)) : BinaryPrimitives.ReadSingleBigEndian(Raw.AsSpan(o));
    }

    /// <summary>The RAS voxel→world affine: sform when set, else qform, else pixdim scaling (nifti1.h methods 3, 2, 1).</summary>
    private static double[] ReadAffine(HeaderReader header, string path)
    {
        short i16(int o) => header.I16(o);
        float f32(int o) => header.F32(o);
        double px = Math.Abs(f32(80)), py = Math.Abs(f32(84)), pz = Math.Abs(f32(88));
        if (px == 0 || py == 0 || pz == 0)
        {
            throw new NiftiFormatException($"{path}: pixdim has a zero spacing ({px}, {py}, {pz})");
        }

        if (i16(254) > 0)
        {
            var m = new double[12];
            for (int i = 0; i < 12; i++)
            {
                m[i] = f32(280 + (4 * i));
            }

            return m;
        }

        if (i16(252) > 0)
        {
            double b = f32(256), c = f32(260), d = f32(264);
            double a = Math.Sqrt(Math.Max(0, 1 - ((b * b) + (c * c) + (d * d))));
            double qfac = f32(76) < 0 ? -1 : 1;
            double[] r =
            [
                (a * a) + (b * b) - (c * c) - (d * d), 2 * ((b * c) - (a * d)), 2 * ((b * d) + (a * c)),
                2 * ((b * c) + (a * d)), (a * a) + (c * c) - (b * b) - (d * d), 2 * ((c * d) - (a * b)),
                2 * ((b * d) - (a * c)), 2 * ((c * d) + (a * b)), (a * a) + (d * d) - (c * c) - (b * b),
            ];
            return
            [
                r[0] * px, r[1] * py, r[2] * pz * qfac, f32(268),
                r[3] * px, r[4] * py, r[5] * pz * qfac, f32(272),
                r[6] * px, r[7] * py, r[8] * pz * qfac, f32(276),
            ];
        }

        return [px, 0, 0, 0, 0, py, 0, 0, 0, 0, pz, 0];
    }

    private static double Norm(double a, double b, double c) => Math.Sqrt((a * a) + (b * b) + (c * c));

    private static async Task WriteVoxelsAsync(Stream target, float[] voxels, NiftiStorage storage, CancellationToken ct)
    {
        const int chunk = 1 << 16;
        int size = storage == NiftiStorage.Int16 ? sizeof(short) : sizeof(float);
        var buffer = new byte[chunk * size];
        for (long start = 0; start < voxels.LongLength; start += chunk)
        {
            int n = (int)Math.Min(chunk, voxels.LongLength - start);
            var src = voxels.AsSpan((int)start, n);
            if (storage == NiftiStorage.Int16)
            {
                for (int i = 0; i < n; i++)
                {
                    short value = (short)Math.Clamp(MathF.Round(src[i]), short.MinValue, short.MaxValue);
                    BinaryPrimitives.WriteInt16LittleEndian(buffer.AsSpan(i * 2), value);
                }
            }
            else if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(src).CopyTo(buffer);
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), src[i]);
                }
            }

            await target.WriteAsync(buffer.AsMemory(0, n * size), ct);
        }
    }

    private static void WriteFloat(Span<byte> s, int offset, float value) => BinaryPrimitives.WriteSingleLittleEndian(s[offset..], value);

    private static void WriteAscii(Span<byte> field, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        bytes.AsSpan(0, Math.Min(bytes.Length, field.Length - 1)).CopyTo(field);
    }

    private static string ReadAscii(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? field : field[..end]).TrimEnd();
    }
}
