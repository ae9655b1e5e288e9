using System.Numerics;
using System.Runtime.InteropServices;

namespace GenerateCT.Federation.Weights;

/// <summary>Element-wise float32 kernels (SIMD through <see cref="Vector{T}"/>).</summary>
internal static class TensorMath
{
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> result)
    {
        int i = 0;
        var va = MemoryMarshal.Cast<float, Vector<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
        var vr = MemoryMarshal.Cast<float, Vector<float>>(result);
        for (; i < va.Length; i++)
        {
            vr[i] = va[i] + vb[i];
        }

        for (i *= Vector<float>.Count; i < a.Length; i++)
        {
            result[i] = a[i] + b[i];
        }
    }

    public static void Subtract(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> result)
    {
        int i = 0;
        var va = MemoryMarshal.Cast<float, Vector<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
        var vr = MemoryMarshal.Cast<float, Vector<float>>(result);
        for (; i < va.Length; i++)
        {
            vr[i] = va[i] - vb[i];
        }

        for (i *= Vector<float>.Count; i < a.Length; i++)
        {
            result[i] = a[i] - b[i];
        }
    }

    /// <summary>accumulator += weight · x.</summary>
    public static void AddScaled(Span<float> accumulator, ReadOnlySpan<float> x, float weight)
    {
        int i = 0;
        var vacc = MemoryMarshal.Cast<float, Vector<float>>(accumulator);
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        var w = new Vector<float>(weight);
        for (; i < vacc.Length; i++)
        {
            vacc[i] = Vector.FusedMultiplyAdd(vx[i], w, vacc[i]);
        }

        for (i *= Vector<float>.Count; i < accumulator.Length; i++)
        {
            accumulator[i] = MathF.FusedMultiplyAdd(x[i], weight, accumulator[i]);
        }
    }
}
