using GenerateCT.Dicom.Network;

namespace GenerateCT.Node.Ingest;

/// <summary>
/// The node's C-STORE handler: the durable write of <see cref="DurableFileStore"/> (temp file, fsync,
/// rename, directory fsync — or quarantine with a failure status), then the instance is queued for
/// de-identification before success is answered.
/// </summary>
internal sealed class NodeCStoreHandler(DurableFileStore store, IngestQueue queue, string incomingDirectory) : ICStoreHandler
{
    public async Task<DicomStatus> HandleAsync(CStoreRequest request, CancellationToken cancellationToken)
    {
        var status = await store.HandleAsync(request, cancellationToken);
        if (status.Code == DicomStatus.Success.Code)
        {
            await queue.EnqueueAsync(new IngestItem(Path.Combine(incomingDirectory, request.SopInstanceUid + ".dcm"), request.Association.CallingAeTitle), cancellationToken);
        }

        return status;
    }
}
