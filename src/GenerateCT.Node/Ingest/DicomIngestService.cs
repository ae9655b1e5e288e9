using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using GenerateCT.Dicom.Network;
using GenerateCT.Hosting;
using GenerateCT.Node.Audit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// Hosted DICOM listener of the node (C-ECHO, C-STORE; optional TLS; AE + address allow-list). On
/// start it re-queues whatever is still in incoming/ from before a crash or restart; on stop,
/// in-flight associations finish before the host goes down.
/// </summary>
internal sealed class DicomIngestService(
    IOptions<NodeOptions> nodeOptions,
    IOptions<IngestOptions> ingestOptions,
    NodeStorage storage,
    IngestQueue queue,
    INodeAudit audit,
    QuarantineLog quarantine,
    GrpcHostCertificate certificate,
    ILogger<DicomIngestService> log) : IHostedService, IAsyncDisposable
{
    private readonly NodeOptions _node = nodeOptions.Value;
    private readonly IngestOptions _options = ingestOptions.Value;

    private DicomListener? _listener;

    public bool IsListening => _listener is not null;

    public int Port => _listener?.Port ?? throw new InvalidOperationException("the DICOM listener is not started");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        storage.Create();
        var store = new DurableFileStore(new DurableFileStoreOptions { IncomingDirectory = storage.Incoming, QuarantineDirectory = storage.Quarantine });
        store.Quarantined += (_, q) => _ = quarantine
            .RecordAsync(q.Association.CallingAeTitle, $"dicom:{q.Association.CallingAeTitle}@{q.Association.RemoteEndPoint.Address}", q.Reason, Path.GetFileName(q.Path), CancellationToken.None)
            .ContinueWith(t => log.LogError(t.Exception, "recording a quarantined instance failed"), TaskContinuationOptions.OnlyOnFaulted);

        var listenerOptions = new DicomListenerOptions
        {
            AeTitle = _node.AeTitle,
            BindAddress = IPAddress.Parse(_options.BindAddress),
            Port = _node.DicomPort,
        };
        foreach (var rule in _options.PeerRules())
        {
            listenerOptions.AllowedPeers.Add(rule);
        }

        if (_options.DicomTls)
        {
            listenerOptions.TlsCertificate = certificate.Certificate;
            listenerOptions.RequireClientCertificate = !string.IsNullOrEmpty(_options.DicomClientCaPath);
            if (listenerOptions.RequireClientCertificate)
            {
                listenerOptions.TrustedClientAuthorities.Add(X509CertificateLoader.LoadCertificateFromFile(_options.DicomClientCaPath!));
            }
        }

        _listener = new DicomListener(listenerOptions, new NodeCStoreHandler(store, queue, storage.Incoming));
        _listener.AssociationEvent += (_, e) =>
        {
            if (e.Outcome == DicomAssociationOutcome.Accepted)
            {
                return; // one row per association: written when it ends (with its instance count) or is refused
            }

            Record(
                $"dicom:{e.CallingAeTitle ?? "?"}@{e.RemoteEndPoint.Address}",
                "dicom:association",
                e.Outcome is DicomAssociationOutcome.Released ? "success" : e.Outcome is DicomAssociationOutcome.Rejected ? "denied" : "failure",
                new { outcome = e.Outcome.ToString(), called = e.CalledAeTitle, tls = e.IsTls, stored = e.InstancesStored, failed = e.InstancesFailed, detail = e.Detail, seconds = Math.Round(e.Duration.TotalSeconds, 3) });
        };
        await _listener.StartAsync(cancellationToken);
        log.LogInformation("DICOM listener {Ae} on port {Port} (TLS {Tls}), allowed peers: {Peers}", _node.AeTitle, _listener.Port, _options.DicomTls, string.Join(", ", _options.AllowedPeers));

        // Resume: instances acknowledged before a crash but not yet de-identified.
        var pending = Directory.GetFiles(storage.Incoming, "*.dcm").OrderBy(File.GetLastWriteTimeUtc).ToList();
        if (pending.Count > 0)
        {
            log.LogInformation("resuming {Count} instances left in incoming/", pending.Count);
            _ = Task.Run(async () =>
            {
                foreach (var path in pending)
                {
                    await queue.EnqueueAsync(new IngestItem(path, "resume"), CancellationToken.None);
                }
            }, CancellationToken.None);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is not null)
        {
            await _listener.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_listener is not null)
        {
            await _listener.DisposeAsync();
        }
    }

    private void Record(string actor, string action, string outcome, object detail)
    {
        var json = JsonSerializer.Serialize(detail);
        _ = audit.RecordAsync(actor, action, outcome, json, CancellationToken.None).ContinueWith(
            t => log.LogError(t.Exception, "audit write failed for {Action}", action),
            TaskContinuationOptions.OnlyOnFaulted);
    }
}
