using System.Net;
using System.Net.Sockets;

namespace GenerateCT.Dicom.Network;

/// <summary>
/// A C-ECHO / C-STORE SCP (PS3.4 Annex A, B; PS3.7; PS3.8). Serves many associations at once,
/// optionally over TLS (PS3.15 Annex B), checks the called AE title and the calling AE / source
/// address allow-list (A-ASSOCIATE-RJ with the matching reason), accepts only transfer syntaxes
/// we can decode (so the peer transcodes anything else), and hands each instance to an
/// <see cref="ICStoreHandler"/> before answering. Each connection is served by its own
/// <see cref="ScpAssociation"/>.
/// </summary>
public sealed class DicomListener : IAsyncDisposable
{
    private readonly DicomListenerOptions _options;
    private readonly ICStoreHandler _handler;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<Task> _connections = [];
    private readonly SemaphoreSlim _slots;
    private TcpListener? _tcp;
    private Task? _acceptLoop;

    public DicomListener(DicomListenerOptions options, ICStoreHandler handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        _options = options;
        _handler = handler;
        _slots = new SemaphoreSlim(options.MaxAssociations, options.MaxAssociations);
    }

    /// <summary>Raised when an association is accepted, rejected, released, aborted or fails.</summary>
    public event EventHandler<DicomAssociationEventArgs>? AssociationEvent;

    /// <summary>The bound port (useful with <see cref="DicomListenerOptions.Port"/> = 0).</summary>
    public int Port => (_tcp?.LocalEndpoint as IPEndPoint)?.Port ?? throw new InvalidOperationException("the listener is not started");

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _tcp = new TcpListener(_options.BindAddress, _options.Port);
        _tcp.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _tcp.Start(backlog: 128);
        _acceptLoop = AcceptLoopAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        _stopping.Cancel();
        _tcp?.Stop();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        Task[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp!.AcceptTcpClientAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (ct.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            var task = Task.Run(
                () => new ScpAssociation(_options, _handler, _slots, e => AssociationEvent?.Invoke(this, e), client, ct).ServeAsync(),
                CancellationToken.None);
            lock (_connections)
            {
                _connections.Add(task);
            }

            _ = task.ContinueWith(
                t =>
                {
                    lock (_connections)
                    {
                        _connections.Remove(t);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }
}
