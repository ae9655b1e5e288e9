namespace GenerateCT.Node.Federation;

/// <summary>
/// The scalars a node may report for a round: an explicit allow-list of aggregate training numbers, so no
/// per-case value, prompt or identifier can leave the site through ReportMetrics. A training job's names
/// are mapped onto the federation's (MaskGIT's masked_accuracy is masked_token_accuracy); anything else,
/// and any value that is not finite, is dropped.
/// </summary>
internal static class RoundMetrics
{
    /// <summary>The names the coordinator accepts, as rounds' MetricsReport documents them.</summary>
    public static readonly IReadOnlySet<string> Allowed = new HashSet<string>(StringComparer.Ordinal) { "loss", "masked_token_accuracy", "psnr", "learning_rate" };

    private static readonly Dictionary<string, string> Renamed = new(StringComparer.Ordinal) { ["masked_accuracy"] = "masked_token_accuracy" };

    /// <summary>The allow-listed scalars of a job's metrics, and the names left out.</summary>
    public static (Dictionary<string, double> Reported, List<string> Dropped) Select(IReadOnlyDictionary<string, double> jobMetrics)
    {
        var reported = new Dictionary<string, double>(StringComparer.Ordinal);
        var dropped = new List<string>();
        foreach (var (name, value) in jobMetrics)
        {
            var federated = Renamed.GetValueOrDefault(name, name);
            if (Allowed.Contains(federated) && double.IsFinite(value))
            {
                reported[federated] = value;
            }
            else
            {
                dropped.Add(name);
            }
        }

        return (reported, dropped);
    }
}
