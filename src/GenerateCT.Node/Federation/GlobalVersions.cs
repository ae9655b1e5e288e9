using System.Text.Json;
using GenerateCT.Federation.Weights;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Training;
using GenerateCT.Node.Audit;
using GenerateCT.Node.Jobs;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Federation;

/// <summary>A global model version installed on this node: a complete bundle (the node's bundle with one stage replaced).</summary>
/// <param name="Name">What ListModels and ActivateModel call it: "global-v{Number}".</param>
/// <param name="Directory">The bundle directory, named by <paramref name="WeightsId"/> (content-addressed).</param>
/// <param name="WeightsId">The version digest of the stage weights (<see cref="WeightSet.ComputeVersionId"/>).</param>
/// <param name="Number">The coordinator's version number.</param>
/// <param name="Stage">The stage the version replaces (ctvit, maskgit, superres).</param>
/// <param name="CreatedUtc">When the coordinator published it.</param>
internal sealed record GlobalVersion(string Name, string Directory, string WeightsId, int Number, string Stage, DateTimeOffset CreatedUtc);

/// <summary>
/// Global versions on disk under {DataDirectory}/models/global: each is a bundle directory named by the
/// digest of its stage weights, plus a "{digest}.json" record written (atomically) only once the bundle
/// is in place, so a crash mid-install leaves nothing that lists. Installing the same weights twice is a no-op.
/// </summary>
internal sealed class GlobalVersions(IOptions<NodeOptions> nodeOptions, IOptions<GenerationOptions> generationOptions, INodeAudit audit)
{
    public const string InstallAction = "federation:global-version";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Root => Path.Combine(Path.GetFullPath(nodeOptions.Value.DataDirectory), "models", "global");

    /// <summary>Installed versions, oldest number first.</summary>
    public IReadOnlyList<GlobalVersion> List()
    {
        if (!System.IO.Directory.Exists(Root))
        {
            return [];
        }

        var versions = new List<GlobalVersion>();
        foreach (var file in System.IO.Directory.EnumerateFiles(Root, "*.json"))
        {
            var record = JsonSerializer.Deserialize<Record>(File.ReadAllText(file), Json);
            var directory = Path.Combine(Root, Path.GetFileNameWithoutExtension(file));
            if (record is not null && System.IO.Directory.Exists(directory))
            {
                versions.Add(new GlobalVersion(NameOf(record.Number), directory, record.WeightsId, record.Number, record.Stage, record.CreatedUtc));
            }
        }

        return [.. versions.OrderBy(v => v.Number)];
    }

    /// <summary>The installed version called <paramref name="name"/> ("global-vN"), or null.</summary>
    public GlobalVersion? Find(string name) => List().FirstOrDefault(v => v.Name == name);

    /// <summary>
    /// Writes version <paramref name="number"/> (its <paramref name="stage"/> weights) as a bundle derived from the
    /// node's configured bundle, and audits it. A layout that differs from the node's bundle is refused
    /// (<see cref="ArgumentException"/> naming the first difference) and nothing is installed.
    /// </summary>
    public async Task<GlobalVersion> InstallAsync(int number, ModelStage stage, WeightSet weights, DateTimeOffset createdUtc, CancellationToken ct)
    {
        var generation = generationOptions.Value;
        if (!generation.IsConfigured)
        {
            throw GenerationModels.NotConfigured();
        }

        var weightsId = weights.ComputeVersionId();
        var directory = Path.Combine(Root, weightsId);
        var recordFile = directory + ".json";
        if (!File.Exists(recordFile) || !System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.CreateDirectory(Root);
            await Task.Run(() => BundleWeights.WriteDerivedBundle(generation.Bundle!, stage, weights, directory, $"federation global version {number} ({stage.Name})"), ct);
            var partial = recordFile + ".partial";
            await File.WriteAllTextAsync(partial, JsonSerializer.Serialize(new Record(number, stage.Name, weightsId, createdUtc), Json), ct);
            File.Move(partial, recordFile, overwrite: true);
        }

        var version = new GlobalVersion(NameOf(number), directory, weightsId, number, stage.Name, createdUtc);
        await audit.RecordAsync(
            "system",
            InstallAction,
            "success",
            JsonSerializer.Serialize(new { version = number, stage = stage.Name, weights = weightsId, model = GenerationModels.VersionOf(ModelBundle.ReadManifest(directory)) }),
            ct);
        return version;
    }

    private static string NameOf(int number) => $"global-v{number}";

    private sealed record Record(int Number, string Stage, string WeightsId, DateTimeOffset CreatedUtc);
}
