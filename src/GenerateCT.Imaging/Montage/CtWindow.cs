namespace GenerateCT.Imaging.Montage;

/// <summary>A display window in HU: values at or below <see cref="Low"/> are black, at or above <see cref="High"/> white.</summary>
public readonly record struct CtWindow(string Name, float Low, float High)
{
    /// <summary>Lung window [-1000, 150] HU.</summary>
    public static CtWindow Lung { get; } = new("lung", -1000, 150);

    /// <summary>Mediastinal (soft-tissue) window [-125, 225] HU, i.e. level 50, width 350.</summary>
    public static CtWindow Mediastinal { get; } = new("mediastinal", -125, 225);

    /// <summary>The model's whole range [-1000, 1000] HU.</summary>
    public static CtWindow Raw { get; } = new("raw", -1000, 1000);

    /// <summary>"lung", "mediastinal" or "raw".</summary>
    public static CtWindow Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "lung" => Lung,
        "mediastinal" or "mediastinum" or "soft-tissue" => Mediastinal,
        "raw" => Raw,
        _ => throw new ArgumentException($"unknown window \"{name}\"; use lung, mediastinal or raw", nameof(name)),
    };

    public byte Map(float hu)
    {
        float t = (hu - Low) / (High - Low);
        return (byte)Math.Clamp((int)MathF.Round(t * 255f), 0, 255);
    }
}
