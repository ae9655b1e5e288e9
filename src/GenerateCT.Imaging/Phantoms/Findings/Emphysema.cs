using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>Centrilobular emphysema, upper-zone predominant; <see cref="LowAttenuationFraction"/> of lung below −950 HU.</summary>
public sealed record Emphysema(double LowAttenuationFraction) : Finding
{
    /// <summary>−950 HU is the standard emphysema threshold on inspiratory CT (LAA-950).</summary>
    public const float LowAttenuationHu = -950;

    /// <summary>LAA-950 above 6 % of lung volume is read as emphysema.</summary>
    public const double ThresholdPercent = 6;

    [JsonIgnore]
    public override FindingKind Kind => FindingKind.Emphysema;

    public static Emphysema Sample(Random rng) => new(Uniform(rng, 0.14, 0.30));

    /// <summary>LAA-950 %: the share of lung voxels (air-filled, inside the body) below −950 HU, on the unfiltered volume.</summary>
    public static double Measure(ChestScan scan)
    {
        var raw = scan.Volume.Voxels;
        long lung = 0, low = 0;
        for (long i = 0; i < raw.LongLength; i++)
        {
            if (scan.IsLung(i))
            {
                lung++;
                if (raw[i] < LowAttenuationHu)
                {
                    low++;
                }
            }
        }

        return lung == 0 ? 0 : 100.0 * low / lung;
    }

    public static bool IsPresentIn(ChestScan scan) => Measure(scan) > ThresholdPercent;
}
