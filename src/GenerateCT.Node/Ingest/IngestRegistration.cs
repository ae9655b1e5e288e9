using GenerateCT.Deid.Datasets;
using GenerateCT.Hosting;
using GenerateCT.Node.Audit;
using Microsoft.Extensions.DependencyInjection;

namespace GenerateCT.Node.Ingest;

/// <summary>Wires the PACS ingest into the node host: listener, queue, de-identification and assembly workers.</summary>
internal static class IngestRegistration
{
    /// <summary>
    /// Sections "Node:Ingest" and "Node:Deidentification", and the ingest services. The site keys are
    /// opened by the host (<see cref="SiteKeys.OpenAsync"/>) before the services start.
    /// </summary>
    public static IServiceCollection AddNodeIngest(this IServiceCollection services)
    {
        services.AddValidatedOptions<IngestOptions>(IngestOptions.Section, o => o.Validate());
        services.AddOptions<DeidentificationProfile>().BindConfiguration(NodeOptions.Section + ":Deidentification");
        services.AddSingleton<NodeStorage>();
        services.AddSingleton<SiteKeys>();
        services.AddSingleton<INodeAudit, ChainedNodeAudit>();
        services.AddSingleton<IngestQueue>();
        services.AddSingleton<QuarantineLog>();
        services.AddSingleton<ReportStore>();

        // The worker is registered first so that it stops last: the listener drains its associations
        // (whose handlers may wait on the queue) while the worker still consumes.
        services.AddHostedSingleton<IngestWorker>();
        services.AddHostedSingleton<Hl7IngestService>();
        services.AddHostedService<SeriesAssemblyWorker>();
        services.AddHostedSingleton<DicomIngestService>();
        return services;
    }
}
