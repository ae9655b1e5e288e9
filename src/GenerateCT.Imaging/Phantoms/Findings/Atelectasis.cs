using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>Plate-like (linear) subsegmental atelectasis: a thin band of collapsed lung in a lower zone.</summary>
public sealed record Atelectasis(Side Side, double LengthMm) : Finding
{
    [JsonIgnore]
    public override FindingKind Kind => FindingKind.Atelectasis;

    public static Atelectasis Sample(Random rng) => new(SampleSide(rng, allowBilateral: true), Uniform(rng, 40, 55));

    /// <summary>
    /// A plate: the smallest spread (standard deviation along the principal axes) is under half of both others,
    /// and it is at least 20 mm long. Nodules are round and consolidation is thick in every direction.
    /// </summary>
    internal static bool IsBand(Opacity o) =>
        o.SpreadMm.Smallest < 0.45 * o.SpreadMm.Middle && o.SpreadMm.Smallest < 0.4 * o.SpreadMm.Largest && 4 * o.SpreadMm.Largest >= 20;

    /// <summary>The plate-like intrapulmonary opacities.</summary>
    public static IReadOnlyList<Opacity> Measure(ChestScan scan) => scan.Opacities.Where(IsBand).ToList();

    public static bool IsPresentIn(ChestScan scan) => Measure(scan).Count > 0;
}
