using GenerateCT.Testing;
using System.Collections.Concurrent;
using GenerateCT.Dicom.Network;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Dicom.Tests;

/// <summary>Our SCP with the durable file store in a scratch directory, recording association events.</summary>
internal sealed class ScpHarness : IAsyncDisposable
{
    private readonly Scratch _dir = new("gct-scp");

    private ScpHarness(DicomListenerOptions options)
    {
        Store = new DurableFileStore(new DurableFileStoreOptions { IncomingDirectory = Incoming, QuarantineDirectory = Quarantine });
        Listener = new DicomListener(options, Store);
        Listener.AssociationEvent += (_, e) => Events.Enqueue(e);
        Options = options;
    }

    public DicomListenerOptions Options { get; }

    public DicomListener Listener { get; }

    public DurableFileStore Store { get; }

    public ConcurrentQueue<DicomAssociationEventArgs> Events { get; } = new();

    public string Incoming => _dir.Combine("incoming");

    public string Quarantine => _dir.Combine("quarantine");

    public string Scratch => _dir.Path;

    public int Port => Listener.Port;

    public static async Task<ScpHarness> StartAsync(Action<DicomListenerOptions>? configure = null)
    {
        var options = new DicomListenerOptions { AeTitle = "GCT", Port = 0, ArtimTimeout = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        var h = new ScpHarness(options);
        await h.Listener.StartAsync();
        return h;
    }

    public DicomClientOptions ClientOptions(string callingAe = "TESTSCU") => new() { Host = "127.0.0.1", Port = Port, CalledAeTitle = Options.AeTitle, CallingAeTitle = callingAe };

    public string[] StoredFiles() => Directory.Exists(Incoming) ? Directory.GetFiles(Incoming, "*.dcm") : [];

    /// <summary>Waits until an event matching <paramref name="predicate"/> was raised (events follow the peer's close).</summary>
    public async Task<DicomAssociationEventArgs> WaitForEventAsync(Func<DicomAssociationEventArgs, bool> predicate, int timeoutMs = 10000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            var e = Events.FirstOrDefault(predicate);
            if (e is not null)
            {
                return e;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("expected association event not raised; saw: " + string.Join("; ", Events.Select(e => $"{e.Outcome} {e.CallingAeTitle} {e.Detail}")));
    }

    public async ValueTask DisposeAsync()
    {
        await Listener.DisposeAsync();
        _dir.Dispose();
    }
}
