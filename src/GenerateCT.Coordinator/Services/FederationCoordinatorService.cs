using System.Text.Json;
using GenerateCT.Coordinator.Rounds;
using GenerateCT.Coordinator.Security;
using GenerateCT.Data.Audit;
using GenerateCT.Data.Coordinator;
using GenerateCT.Federation.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Coordinator.Services;

/// <summary>
/// The node-facing service of federation.proto. Every method requires a node certificate
/// (<see cref="FederationPolicies.Node"/>); the node is whoever that certificate says, never a field of
/// the request. Rounds, transfers and metrics are in the other part of this class (NodeRounds.cs).
/// </summary>
[Authorize(Policy = FederationPolicies.Node)]
internal sealed partial class FederationCoordinatorService(IDbContextFactory<CoordinatorDb> databases, AuditTrail audit, CoordinatorPki pki, ModelStore store)
    : GenerateCT.Federation.V1.Coordinator.CoordinatorBase
{
    private const int MaxSoftwareVersion = 64;
    private const int MaxDevice = 128;

    /// <summary>
    /// Records the node (name, certificate fingerprint and serial, software version, device, sample count,
    /// last contact) and answers its id and the federation's. A node enrolling with a new certificate
    /// (renewed after revocation or expiry) keeps its row; the row then names the new certificate.
    /// </summary>
    public override async Task<EnrolResponse> Enrol(EnrolRequest request, ServerCallContext context)
    {
        var peer = FederationClaims.Peer(context.GetHttpContext().User);
        if (request.NodeSoftwareVersion.Length > MaxSoftwareVersion)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"node_software_version is longer than {MaxSoftwareVersion} characters"));
        }

        if (request.Device.Length > MaxDevice)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"device is longer than {MaxDevice} characters"));
        }

        if (request.TrainingSamples < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "training_samples is negative"));
        }

        bool first;
        try
        {
            first = await RecordAsync(peer, request, context.CancellationToken);
        }
        catch (DbUpdateException)
        {
            // Two first enrolments of one node at once: the other inserted the row; update it.
            first = await RecordAsync(peer, request, context.CancellationToken);
        }

        await audit.AppendAsync(
            new AuditEntry(peer.Name, "federation:enrol", "success", JsonSerializer.Serialize(new
            {
                first,
                sha256 = peer.Sha256,
                serial = peer.Serial,
                softwareVersion = request.NodeSoftwareVersion,
                device = request.Device,
                trainingSamples = request.TrainingSamples,
                peer = context.GetHttpContext().Connection.RemoteIpAddress?.ToString(),
            })),
            CancellationToken.None);

        return new EnrolResponse
        {
            NodeId = peer.Name,
            FederationId = pki.Federation,
            CurrentModelVersion = await CurrentVersionAsync(context.CancellationToken),
            Privacy = new PrivacyPolicy(),
        };
    }

    /// <summary>Inserts or updates the node's row; true when it is the node's first enrolment.</summary>
    private async Task<bool> RecordAsync(GenerateCT.Federation.Pki.FederationPeer peer, EnrolRequest request, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        await using var db = await databases.CreateDbContextAsync(cancellationToken);
        var node = await db.Nodes.SingleOrDefaultAsync(n => n.NodeId == peer.Name, cancellationToken);
        var first = node is null;
        if (node is null)
        {
            node = new EnrolledNode { NodeId = peer.Name, EnrolledAt = now };
            db.Nodes.Add(node);
        }

        node.CertificateThumbprint = peer.Sha256;
        node.CertificateSerial = peer.Serial;
        node.LastSeenAt = now;
        node.SoftwareVersion = request.NodeSoftwareVersion;
        node.Device = request.Device;
        node.TrainingSamples = request.TrainingSamples;
        await db.SaveChangesAsync(cancellationToken);
        return first;
    }
}
