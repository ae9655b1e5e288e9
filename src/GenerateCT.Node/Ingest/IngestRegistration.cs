using System.Security.Cryptography.X509Certificates;
using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Reports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GenerateCT.Node.Ingest;

/// <summary>Wires the PACS ingest into the node host: listener, queue, de-identification worker.</summary>
internal static class IngestRegistration
{
    /// <summary>
    /// Loads (or creates, 0600) the per-site secret and returns the registration of the ingest
    /// services; <paramref name="connectionString"/> is the node's runtime (service-role) connection.
    /// </summary>
    public static async Task<Action<IServiceCollection>> PrepareAsync(
        NodeOptions node,
        IngestOptions options,
        DeidentificationProfile profile,
        X509Certificate2 certificate,
        string connectionString,
        GenerateCT.Data.Audit.AuditTrail trail,
        CancellationToken cancellationToken)
    {
        var storage = new NodeStorage(node.DataDirectory);
        storage.Create();
        var secret = await SiteSecret.LoadOrCreateAsync(storage.SiteSecret, cancellationToken);
        var keys = new KeyedPseudonyms(secret);
        PseudonymTable? pseudonyms = profile.EnablePseudonymTable
            ? await PseudonymTable.OpenAsync(Path.Combine(node.DataDirectory, "secrets", "pseudonyms.bin"), secret, cancellationToken)
            : null;
        return services => Register(services, node, options, storage, new DicomDeidentifier(profile, keys, pseudonyms), new ReportDeidentifier(keys), certificate, connectionString, trail);
    }

    private static void Register(
        IServiceCollection services,
        NodeOptions node,
        IngestOptions options,
        NodeStorage storage,
        DicomDeidentifier deidentifier,
        ReportDeidentifier reports,
        X509Certificate2 certificate,
        string connectionString,
        GenerateCT.Data.Audit.AuditTrail trail)
    {
        services.AddSingleton(options);
        services.AddSingleton(storage);
        services.AddSingleton<INodeAudit>(new ChainedNodeAudit(trail));
        services.AddSingleton(new IngestQueue(options.QueueCapacity));
        services.AddSingleton(deidentifier);
        services.AddSingleton(reports);
        services.AddSingleton(sp => new QuarantineLog(connectionString, sp.GetRequiredService<INodeAudit>()));
        services.AddSingleton(sp => new ReportStore(connectionString, sp.GetRequiredService<INodeAudit>()));
        // The worker is registered first so that it stops last: the listener drains its associations
        // (whose handlers may wait on the queue) while the worker still consumes.
        services.AddSingleton(sp => new IngestWorker(
            sp.GetRequiredService<IngestQueue>(),
            options,
            storage,
            sp.GetRequiredService<DicomDeidentifier>(),
            sp.GetRequiredService<ReportDeidentifier>(),
            connectionString,
            sp.GetRequiredService<INodeAudit>(),
            sp.GetRequiredService<QuarantineLog>(),
            sp.GetRequiredService<ReportStore>(),
            sp.GetRequiredService<ILogger<IngestWorker>>()));
        services.AddHostedService(sp => sp.GetRequiredService<IngestWorker>());
        if (options.Hl7Enabled)
        {
            services.AddSingleton(sp => new Hl7IngestService(options, reports, sp.GetRequiredService<ReportStore>(), sp.GetRequiredService<ILogger<Hl7IngestService>>()));
            services.AddHostedService(sp => sp.GetRequiredService<Hl7IngestService>());
        }

        services.AddHostedService(sp => new SeriesAssemblyWorker(options, storage, connectionString, sp.GetRequiredService<INodeAudit>(), sp.GetRequiredService<ILogger<SeriesAssemblyWorker>>()));
        services.AddSingleton(sp => new DicomIngestService(
            node,
            options,
            storage,
            sp.GetRequiredService<IngestQueue>(),
            sp.GetRequiredService<INodeAudit>(),
            sp.GetRequiredService<QuarantineLog>(),
            certificate,
            sp.GetRequiredService<ILogger<DicomIngestService>>()));
        services.AddHostedService(sp => sp.GetRequiredService<DicomIngestService>());
    }
}
