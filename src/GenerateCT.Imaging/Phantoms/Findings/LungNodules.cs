using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>Solid pulmonary nodules, well circumscribed and surrounded by aerated lung.</summary>
public sealed record LungNodules(IReadOnlyList<double> DiametersMm) : Finding
{
    /// <summary>A nodule is at most 30 mm (Fleischner glossary); larger opacities are masses or consolidation.</summary>
    public const double MaxDiameterMm = 30;

    [JsonIgnore]
    public override FindingKind Kind => FindingKind.LungNodules;

    public static LungNodules Sample(Random rng)
    {
        int n = 1 + rng.Next(3);
        var d = new double[n];
        for (int i = 0; i < n; i++)
        {
            d[i] = Math.Round(Uniform(rng, 6, 18), 1);
        }

        return new LungNodules(d);
    }

    /// <summary>Isolated intrapulmonary opacities that are neither plate-like nor larger than a nodule.</summary>
    public static IReadOnlyList<Opacity> Measure(ChestScan scan) =>
        scan.Opacities.Where(o => !Atelectasis.IsBand(o) && o.EquivalentDiameterMm <= MaxDiameterMm).ToList();

    public static bool IsPresentIn(ChestScan scan) => Measure(scan).Count > 0;
}
