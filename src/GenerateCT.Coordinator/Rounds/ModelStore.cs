using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using GenerateCT.Federation.Weights;
using Microsoft.Extensions.Options;

namespace GenerateCT.Coordinator.Rounds;

/// <summary>
/// The coordinator's files under its data directory: global weights at <c>models/SHA256.gctw</c>
/// (content-addressed by their version id, written atomically), spooled updates at
/// <c>rounds/ROUND/NODE.gctw</c>, and FedAdam/FedYogi optimizer state at <c>optimizer/STAGE-round-ROUND.gctw</c>.
/// Also the locks that serialize a node's upload and position queries per round, and round state changes.
/// </summary>
internal sealed partial class ModelStore(IOptions<CoordinatorOptions> options)
{
    private readonly ConcurrentDictionary<(long Round, string Node), SemaphoreSlim> _uploads = new();
    private TaskCompletionSource _roundsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Held while a round's state is read and changed (an upload's acceptance, a round's close).</summary>
    public SemaphoreSlim StateLock { get; } = new(1, 1);

    private string Root => options.Value.DataDirectory;

    public string WeightsPath(string sha256) => Path.Combine(Root, "models", sha256 + WeightFile.Extension);

    public string SpoolPath(long round, string node) =>
        Path.Combine(Root, "rounds", round.ToString(System.Globalization.CultureInfo.InvariantCulture), SafeName().IsMatch(node) ? node + WeightFile.Extension : throw new ArgumentException($"node name '{node}' cannot name a file"));

    public string OptimizerStatePath(string stage, long round) =>
        Path.Combine(Root, "optimizer", $"{stage}-round-{round.ToString(System.Globalization.CultureInfo.InvariantCulture)}{WeightFile.Extension}");

    /// <summary>Writes <paramref name="weights"/> at their content address (nothing when it is there already); returns its id and sizes.</summary>
    public async Task<(string Sha256, long Bytes, int Tensors)> StoreAsync(WeightSet weights, CancellationToken cancellationToken)
    {
        var id = weights.ComputeVersionId();
        var path = WeightsPath(id);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await WeightFile.WriteAsync(path, weights, cancellationToken);
        }

        return (id, weights.ByteCount, weights.Count);
    }

    /// <summary>The lock of one node's upload to one round.</summary>
    public SemaphoreSlim UploadLock(long round, string node) => _uploads.GetOrAdd((round, node), _ => new SemaphoreSlim(1, 1));

    /// <summary>Completes when a round is started or changes state after this call.</summary>
    public Task RoundsChanged() => Volatile.Read(ref _roundsChanged).Task;

    public void SignalRoundsChanged() =>
        Interlocked.Exchange(ref _roundsChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeName();
}
