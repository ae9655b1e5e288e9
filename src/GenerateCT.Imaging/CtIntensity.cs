namespace GenerateCT.Imaging;

/// <summary>The value ranges the GenerateCT models train on (GENERATECT.md, "Data and prompt").</summary>
public enum ModelIntensityRange
{
    /// <summary>HU clipped to [-1000, 1000] and divided by 1000: [-1, 1]. CT-ViT and MaskGIT inputs.</summary>
    Symmetric,

    /// <summary>HU clipped to [-1000, 1000] mapped linearly to [0, 1]. The super-resolution dataset.</summary>
    Unit,
}

/// <summary>
/// Hounsfield clipping and the model normalizations. GenerateCT (paper §3.1) clips CT to
/// [-1000, 1000] HU, so everything the model sees or produces lives in that window.
/// </summary>
public static class CtIntensity
{
    public const float MinHu = -1000f;
    public const float MaxHu = 1000f;

    /// <summary>A copy with every voxel clamped to [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Volume ClipHu(this Volume hu, float min = MinHu, float max = MaxHu)
    {
        RequireUnit(hu, "HU");
        var output = new float[hu.Voxels.LongLength];
        var src = hu.Voxels;
        for (long i = 0; i < src.LongLength; i++)
        {
            output[i] = Math.Clamp(src[i], min, max);
        }

        return hu.With(output);
    }

    /// <summary>HU → model range; values outside [-1000, 1000] HU are clipped first.</summary>
    public static Volume Normalize(this Volume hu, ModelIntensityRange range)
    {
        RequireUnit(hu, "HU");
        var src = hu.Voxels;
        var output = new float[src.LongLength];
        for (long i = 0; i < src.LongLength; i++)
        {
            float symmetric = Math.Clamp(src[i], MinHu, MaxHu) / MaxHu;
            output[i] = range == ModelIntensityRange.Symmetric ? symmetric : (symmetric + 1f) * 0.5f;
        }

        var result = hu.With(output);
        result.Unit = UnitOf(range);
        return result;
    }

    /// <summary>Model range → HU (the inverse of <see cref="Normalize"/>); model outputs are clamped to their range first.</summary>
    public static Volume Denormalize(this Volume normalized, ModelIntensityRange range)
    {
        RequireUnit(normalized, UnitOf(range));
        var src = normalized.Voxels;
        var output = new float[src.LongLength];
        for (long i = 0; i < src.LongLength; i++)
        {
            float symmetric = range == ModelIntensityRange.Symmetric
                ? Math.Clamp(src[i], -1f, 1f)
                : Math.Clamp(src[i], 0f, 1f) * 2f - 1f;
            output[i] = symmetric * MaxHu;
        }

        var result = normalized.With(output);
        result.Unit = "HU";
        return result;
    }

    /// <summary>The <see cref="Volume.Unit"/> string a normalized volume carries.</summary>
    public static string UnitOf(ModelIntensityRange range) => range switch
    {
        ModelIntensityRange.Symmetric => "HU/1000",
        ModelIntensityRange.Unit => "(HU+1000)/2000",
        _ => throw new ArgumentOutOfRangeException(nameof(range), range, "unknown model intensity range"),
    };

    private static void RequireUnit(Volume v, string unit)
    {
        if (!string.Equals(v.Unit, unit, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"expected a volume in {unit}, got one in {v.Unit}; convert it first");
        }
    }
}
