using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// Paths of received instances waiting for de-identification. Bounded: when the worker falls
/// behind, writers wait, so the C-STORE response to the PACS waits too (back-pressure) instead of
/// the node buffering without limit.
/// </summary>
public sealed class IngestQueue(int capacity)
{
    public IngestQueue(IOptions<IngestOptions> options)
        : this(options.Value.QueueCapacity)
    {
    }

    private readonly Channel<IngestItem> _channel = Channel.CreateBounded<IngestItem>(
        new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    public ValueTask EnqueueAsync(IngestItem item, CancellationToken cancellationToken) => _channel.Writer.WriteAsync(item, cancellationToken);

    public IAsyncEnumerable<IngestItem> ReadAllAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAllAsync(cancellationToken);

    public int Count => _channel.Reader.Count;
}

/// <summary>One received instance: where it lies and who sent it.</summary>
public sealed record IngestItem(string Path, string SourceAe);
