using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>Airspace consolidation: a lobulated soft-tissue-attenuation region within aerated lung.</summary>
public sealed record Consolidation(Side Side, double RadiusMm) : Finding
{
    /// <summary>Consolidated volume (mL) above which it is called.</summary>
    public const double ThresholdMl = 10;

    [JsonIgnore]
    public override FindingKind Kind => FindingKind.Consolidation;

    public static Consolidation Sample(Random rng) => new(SampleSide(rng, allowBilateral: false), Uniform(rng, 17, 22));

    /// <summary>Total volume (mL) of intrapulmonary opacities too large for nodules and not plate-like.</summary>
    public static double Measure(ChestScan scan) =>
        scan.Opacities.Where(o => !Atelectasis.IsBand(o) && o.EquivalentDiameterMm > LungNodules.MaxDiameterMm).Sum(o => o.VolumeMl);

    public static bool IsPresentIn(ChestScan scan) => Measure(scan) > ThresholdMl;
}
