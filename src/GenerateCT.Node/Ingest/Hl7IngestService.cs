using System.Net;
using GenerateCT.Deid.Reports;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// The HL7 v2 MLLP listener of the node: ORU^R01 radiology reports from the RIS are scrubbed and
/// stored with their prompt before the ACK (AA) is sent; unreadable messages get AR, storage
/// failures AE, so the RIS resends.
/// </summary>
internal sealed class Hl7IngestService(IOptions<IngestOptions> ingestOptions, SiteKeys keys, ReportStore reports, ILogger<Hl7IngestService> log) : IHostedService, IAsyncDisposable
{
    private readonly IngestOptions _options = ingestOptions.Value;

    private MllpListener? _listener;

    public bool IsListening => _listener is not null;

    public int Port => _listener?.LocalEndpoint.Port ?? throw new InvalidOperationException("the HL7 listener is not started");

    /// <summary>Starts the MLLP listener, unless HL7 ingest is off (Node:Ingest:Hl7Enabled).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Hl7Enabled)
        {
            return;
        }

        _listener = new MllpListener(new IPEndPoint(IPAddress.Parse(_options.Hl7BindAddress), _options.Hl7Port), HandleAsync);
        await _listener.StartAsync(cancellationToken);
        log.LogInformation("HL7 MLLP listener on {Endpoint}", _listener.LocalEndpoint);
    }

    private async Task HandleAsync(Hl7Message message, CancellationToken ct)
    {
        RadiologyReport report;
        try
        {
            report = OruReportReader.Read(message);
        }
        catch (Exception e) when (e is Hl7ParseException or FormatException or ArgumentException)
        {
            throw new Hl7RejectException($"not a readable ORU^R01 report: {e.Message}");
        }

        var deid = keys.Reports.Deidentify(report);
        if (deid.PseudonymousAccessionNumber is null)
        {
            throw new Hl7RejectException("the report has no accession number (OBR-3/OBR-18) to link it to a study");
        }

        await reports.SaveAsync(deid, "hl7", "hl7:mllp", ct);
    }

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();

    public async ValueTask DisposeAsync()
    {
        // Stopping and disposing the listener is one step: the host stops the service, then the
        // container disposes it.
        var listener = Interlocked.Exchange(ref _listener, null);
        if (listener is not null)
        {
            await listener.DisposeAsync();
        }
    }
}
