using System.Threading.Channels;
using GenerateCT.Generation.V1;

namespace GenerateCT.Node.Jobs;

/// <summary>
/// Live progress of generation jobs for WatchJob: the worker publishes, each watcher reads its own
/// bounded channel. A slow watcher loses intermediate steps (oldest first), never the newest message,
/// so it always receives the terminal one. Progress is not persisted: the job's state is, in the database.
/// </summary>
internal sealed class JobProgressHub
{
    private const int WatcherCapacity = 256;

    private readonly object _lock = new();
    private readonly Dictionary<Guid, List<Channel<JobProgress>>> _watchers = [];
    private readonly Dictionary<Guid, JobProgress> _latest = [];

    /// <summary>Starts watching <paramref name="job"/>; the latest progress of a running job, if any, is the first message.</summary>
    public Watch Subscribe(Guid job)
    {
        var channel = Channel.CreateBounded<JobProgress>(new BoundedChannelOptions(WatcherCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_lock)
        {
            if (!_watchers.TryGetValue(job, out var list))
            {
                _watchers[job] = list = [];
            }

            list.Add(channel);
            if (_latest.TryGetValue(job, out var latest))
            {
                channel.Writer.TryWrite(latest);
            }
        }

        return new Watch(this, job, channel);
    }

    public void Publish(JobProgress progress)
    {
        var job = Guid.ParseExact(progress.JobId, "N");
        lock (_lock)
        {
            if (IsTerminal(progress.State))
            {
                _latest.Remove(job);
            }
            else
            {
                _latest[job] = progress;
            }

            if (_watchers.TryGetValue(job, out var list))
            {
                foreach (var channel in list)
                {
                    channel.Writer.TryWrite(progress);
                }
            }
        }
    }

    public static bool IsTerminal(JobState state) => state is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    private void Unsubscribe(Guid job, Channel<JobProgress> channel)
    {
        lock (_lock)
        {
            if (_watchers.TryGetValue(job, out var list) && list.Remove(channel) && list.Count == 0)
            {
                _watchers.Remove(job);
            }
        }
    }

    /// <summary>One watcher's subscription; dispose to stop receiving.</summary>
    internal sealed class Watch(JobProgressHub hub, Guid job, Channel<JobProgress> channel) : IDisposable
    {
        public ChannelReader<JobProgress> Messages => channel.Reader;

        public void Dispose() => hub.Unsubscribe(job, channel);
    }
}
