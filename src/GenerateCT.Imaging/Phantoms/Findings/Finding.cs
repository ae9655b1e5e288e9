using System.Text.Json.Serialization;

namespace GenerateCT.Imaging.Phantoms.Findings;

/// <summary>The chest CT findings a phantom can carry and a measurement can read back.</summary>
public enum FindingKind
{
    Cardiomegaly,
    PericardialEffusion,
    PleuralEffusion,
    LungNodules,
    Consolidation,
    Emphysema,
    Atelectasis,
}

/// <summary>Which hemithorax (patient side).</summary>
public enum Side
{
    Right,
    Left,
    Bilateral,
}

/// <summary>
/// One planted finding with the parameters it was drawn with. Each concrete finding's file also holds
/// the function that measures it back from a volume (through <see cref="ChestScan"/>) and the decision rule
/// that says whether it is present, so generated CTs can be scored against their prompts the same way.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(Cardiomegaly), "cardiomegaly")]
[JsonDerivedType(typeof(PleuralEffusion), "pleural-effusion")]
[JsonDerivedType(typeof(PericardialEffusion), "pericardial-effusion")]
[JsonDerivedType(typeof(LungNodules), "lung-nodules")]
[JsonDerivedType(typeof(Consolidation), "consolidation")]
[JsonDerivedType(typeof(Emphysema), "emphysema")]
[JsonDerivedType(typeof(Atelectasis), "atelectasis")]
public abstract record Finding
{
    [JsonIgnore]
    public abstract FindingKind Kind { get; }

    /// <summary>Draws the parameters of a finding of <paramref name="kind"/> from <paramref name="rng"/>.</summary>
    public static Finding Sample(FindingKind kind, Random rng) => kind switch
    {
        FindingKind.Cardiomegaly => Cardiomegaly.Sample(rng),
        FindingKind.PleuralEffusion => PleuralEffusion.Sample(rng),
        FindingKind.PericardialEffusion => PericardialEffusion.Sample(rng),
        FindingKind.LungNodules => LungNodules.Sample(rng),
        FindingKind.Consolidation => Consolidation.Sample(rng),
        FindingKind.Emphysema => Emphysema.Sample(rng),
        FindingKind.Atelectasis => Atelectasis.Sample(rng),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown finding"),
    };

    /// <summary>Parses a CLI / config name ("cardiomegaly", "pleural-effusion", "nodules", …).</summary>
    public static FindingKind ParseKind(string name) => name.Trim().ToLowerInvariant().Replace("_", "-", StringComparison.Ordinal) switch
    {
        "cardiomegaly" => FindingKind.Cardiomegaly,
        "pleural-effusion" or "effusion" => FindingKind.PleuralEffusion,
        "pericardial-effusion" => FindingKind.PericardialEffusion,
        "lung-nodules" or "nodules" or "nodule" => FindingKind.LungNodules,
        "consolidation" => FindingKind.Consolidation,
        "emphysema" => FindingKind.Emphysema,
        "atelectasis" => FindingKind.Atelectasis,
        _ => throw new ArgumentException(
            $"unknown finding \"{name}\"; use cardiomegaly, pleural-effusion, pericardial-effusion, lung-nodules, consolidation, emphysema or atelectasis", nameof(name)),
    };

    /// <summary>Whether the finding is present in a scanned volume, by its own measurement.</summary>
    public static bool IsPresentIn(FindingKind kind, ChestScan scan) => kind switch
    {
        FindingKind.Cardiomegaly => Cardiomegaly.IsPresentIn(scan),
        FindingKind.PleuralEffusion => PleuralEffusion.IsPresentIn(scan),
        FindingKind.PericardialEffusion => PericardialEffusion.IsPresentIn(scan),
        FindingKind.LungNodules => LungNodules.IsPresentIn(scan),
        FindingKind.Consolidation => Consolidation.IsPresentIn(scan),
        FindingKind.Emphysema => Emphysema.IsPresentIn(scan),
        FindingKind.Atelectasis => Atelectasis.IsPresentIn(scan),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown finding"),
    };

    internal static Side SampleSide(Random rng, bool allowBilateral) => (Side)rng.Next(allowBilateral ? 3 : 2);

    internal static double Uniform(Random rng, double lo, double hi) => lo + ((hi - lo) * rng.NextDouble());
}
