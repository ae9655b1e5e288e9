using System.Buffers;
using System.Runtime.InteropServices;

namespace GenerateCT.Federation.Weights;

/// <summary>
/// The bytes of a float array as <see cref="Memory{T}"/>: lets async file reads land directly in a
/// tensor and lets protobuf wrap a tensor slice without copying it (little-endian hosts only).
/// </summary>
internal sealed class FloatBytes : MemoryManager<byte>
{
    private readonly float[] _array;
    private readonly int _start;
    private readonly int _length;

    public FloatBytes(float[] array, int start, int length)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("weights are little-endian on the wire and on disk; this host is big-endian");
        }

        _array = array;
        _start = start;
        _length = length;
    }

    /// <summary>Elements [start, start + length) of <paramref name="array"/> as bytes.</summary>
    public static Memory<byte> Of(float[] array, int start, int length) => new FloatBytes(array, start, length).Memory;

    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(_array.AsSpan(_start, _length));

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        var handle = GCHandle.Alloc(_array, GCHandleType.Pinned);
        byte* p = (byte*)handle.AddrOfPinnedObject() + ((long)_start * sizeof(float)) + elementIndex;
        return new MemoryHandle(p, handle, this);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
