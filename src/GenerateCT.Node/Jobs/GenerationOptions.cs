using System.Text.RegularExpressions;
using GenerateCT.Hosting;
using GenerateCT.Model.Pipeline;

namespace GenerateCT.Node.Jobs;

/// <summary>Section "Node:Generation": the model bundle researchers' cohorts are generated with, and where outputs go.</summary>
public sealed partial class GenerationOptions
{
    public const string Section = NodeOptions.Section + ":Generation";

    /// <summary>
    /// Model bundle directory (made by `gct train all` or `gct model import-released`); unset = this node
    /// does not generate and SubmitCohort answers FailedPrecondition saying so.
    /// </summary>
    public string? Bundle { get; set; }

    /// <summary>Where job outputs are written (one directory per job); default: generated/ in the node's data directory.</summary>
    public string? OutputDirectory { get; set; }

    /// <summary>"auto" (CUDA when present), "cpu", "cuda" or "cuda:N".</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Largest cohort (prompts × count) one job may ask for; generation holds a job's volumes in memory.</summary>
    public int MaxVolumesPerJob { get; set; } = 16;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Bundle);

    /// <summary>The output root for a node whose data directory is <paramref name="dataDirectory"/>.</summary>
    public string OutputRoot(string dataDirectory) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(OutputDirectory) ? Path.Combine(dataDirectory, "generated") : OutputDirectory);

    public void Validate()
    {
        if (IsConfigured && !File.Exists(Path.Combine(Bundle!, ModelBundle.ManifestFile)))
        {
            throw new ConfigurationException(
                $"{Section}:Bundle",
                $"'{Bundle}' is not a model bundle (no {ModelBundle.ManifestFile}); make one with `gct model import-released` or `gct train all`");
        }

        if (!DevicePattern().IsMatch(Device))
        {
            throw new ConfigurationException($"{Section}:Device", $"'{Device}' is not a device; use auto, cpu, cuda or cuda:N");
        }

        if (MaxVolumesPerJob < 1)
        {
            throw new ConfigurationException($"{Section}:MaxVolumesPerJob", $"{MaxVolumesPerJob} must be at least 1");
        }
    }

    [GeneratedRegex("^(auto|cpu|cuda(:[0-9]+)?)$", RegexOptions.IgnoreCase)]
    private static partial Regex DevicePattern();
}
