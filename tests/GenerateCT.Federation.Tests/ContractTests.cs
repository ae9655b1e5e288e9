using GenerateCT.Federation.V1;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace GenerateCT.Federation.Tests;

public class ContractTests
{
    public static TheoryData<string> Services => new()
    {
        "generatect.federation.v1.Coordinator",
        "generatect.generation.v1.Generation",
        "generatect.admin.v1.NodeAdmin",
    };

    private static readonly FileDescriptor[] Files =
    [
        FederationReflection.Descriptor,
        GenerateCT.Generation.V1.GenerationReflection.Descriptor,
        GenerateCT.Admin.V1.AdminReflection.Descriptor,
    ];

    [Theory]
    [MemberData(nameof(Services))]
    public void Each_contract_declares_its_service_with_methods(string fullName)
    {
        var service = Files.SelectMany(f => f.Services).SingleOrDefault(s => s.FullName == fullName);
        Assert.NotNull(service);
        Assert.NotEmpty(service!.Methods);
    }

    [Fact]
    public void An_update_round_trips_through_the_wire_format()
    {
        var msg = new UpdateMessage
        {
            Chunk = new TensorChunk
            {
                Name = "maskgit.transformer.layers.0.0.to_q.weight",
                Dtype = TensorDtype.Float32,
                Shape = { 4, 2 },
                Data = ByteString.CopyFrom(new byte[32]),
                LastChunkOfTensor = true,
            },
        };
        var back = UpdateMessage.Parser.ParseFrom(msg.ToByteArray());
        Assert.Equal(msg, back);
        Assert.Equal(UpdateMessage.BodyOneofCase.Chunk, back.BodyCase);
    }

    [Fact]
    public void Federation_messages_have_no_free_text_fields_that_could_carry_patient_data()
    {
        // Only identifiers, names of tensors and reasons are strings; a new string field in the
        // node→coordinator contract must be reviewed against the "no PHI leaves the node" rule.
        var allowed = new HashSet<string>
        {
            "EnrolRequest.node_software_version", "EnrolRequest.device", "EnrolResponse.node_id", "EnrolResponse.federation_id",
            "PeerKey.node_id", "TensorChunk.name", "UploadUpdateResponse.reason",
            // Coordinator → node: the round's participants (certificate names) and which metric names were kept.
            "RoundAnnouncement.participants", "MetricsAck.accepted", "MetricsAck.refused", "MetricsAck.reason",
        };
        var strings = FederationReflection.Descriptor.MessageTypes
            .SelectMany(m => m.Fields.InDeclarationOrder().Select(f => (m, f)))
            .Where(x => x.f.FieldType == FieldType.String)
            .Select(x => $"{x.m.Name}.{x.f.Name}")
            .ToList();
        Assert.All(strings, s => Assert.Contains(s, allowed));
    }

    /// <summary>
    /// Every field a node sends (the Coordinator service's request messages and all they contain) that can hold
    /// text or raw bytes: each string field, each map's key (and any string or bytes value) and each bytes field,
    /// as "Message.field: kind". The node sends no other free-form data; a new one must be reviewed against the
    /// "no PHI leaves the node" rule and added here.
    /// </summary>
    [Fact]
    public void Node_to_coordinator_messages_carry_only_reviewed_strings_map_keys_and_bytes()
    {
        var coordinator = FederationReflection.Descriptor.Services.Single(s => s.Name == "Coordinator");
        var sent = Reachable(coordinator.Methods.Select(m => m.InputType));
        Assert.Equal(
            ["DownloadModelRequest", "EnrolRequest", "MetricsReport", "TensorChunk", "TransferPosition", "UpdateHeader", "UpdateMessage", "UploadPositionRequest", "WatchRoundsRequest"],
            sent.Select(m => m.Name).Order(StringComparer.Ordinal));
        Assert.Equal(
            new SortedSet<string>(StringComparer.Ordinal)
            {
                "EnrolRequest.node_software_version: string",
                "EnrolRequest.device: string",
                "MetricsReport.scalars: map key string",
                "TensorChunk.name: string",         // a state-dict key of the model
                "TensorChunk.data: bytes",          // tensor values
                "TensorChunk.sha256: bytes",        // the tensor's hash
            },
            TextAndBytesFields(sent));
    }

    [Fact]
    public void The_node_to_coordinator_walk_sees_map_keys_and_bytes_fields()
    {
        // The walk above is what stands between a new free-form field and the node's wire: it must see a map's key
        // type (a map is a nested entry message, not a string field) and bytes fields, not only strings.
        var fields = TextAndBytesFields([MetricsReport.Descriptor, TensorChunk.Descriptor, PeerKey.Descriptor]);
        Assert.Contains("MetricsReport.scalars: map key string", fields);
        Assert.Contains("PeerKey.x25519_public_key: bytes", fields);
        Assert.DoesNotContain(fields, f => f.StartsWith("MetricsReport.round", StringComparison.Ordinal));
    }

    [Fact]
    public void Operator_messages_carry_only_reviewed_strings_map_keys_and_bytes()
    {
        // The operator's contract (operator → coordinator and back), reviewed as its own list: labels, names and
        // states of the federation, never data of a site. Tensor chunks it uploads are federation.proto's TensorChunk.
        var messages = Reachable(GenerateCT.Federation.Operator.V1.OperatorReflection.Descriptor.MessageTypes);
        Assert.Equal(
            new SortedSet<string>(StringComparer.Ordinal)
            {
                "RegisterModelHeader.label: string",
                "StageWeights.sha256: string",
                "ModelVersionInfo.label: string",
                "ModelVersionInfo.created_by: string",
                "NodeStatus.node_id: string",
                "NodeStatus.device: string",
                "NodeStatus.software_version: string",
                "NodeRoundStatus.node_id: string",
                "NodeRoundStatus.state: string",
                "NodeRoundStatus.reason: string",
                "NodeRoundStatus.metrics: map key string",
                "RoundStatus.state: string",
                "RoundStatus.failure_reason: string",
                "FederationStatus.federation_id: string",
                "TensorChunk.name: string",
                "TensorChunk.data: bytes",
                "TensorChunk.sha256: bytes",
            },
            TextAndBytesFields(messages));
    }

    /// <summary><paramref name="roots"/> and every message type their fields contain (map entries excluded: their key and value are read at the map).</summary>
    private static List<MessageDescriptor> Reachable(IEnumerable<MessageDescriptor> roots)
    {
        var seen = new List<MessageDescriptor>();
        var pending = new Stack<MessageDescriptor>(roots);
        while (pending.TryPop(out var message))
        {
            if (seen.Any(m => m.FullName == message.FullName))
            {
                continue;
            }

            seen.Add(message);
            foreach (var field in message.Fields.InDeclarationOrder())
            {
                if (field.IsMap)
                {
                    var value = field.MessageType.FindFieldByNumber(2);
                    if (value.FieldType == FieldType.Message)
                    {
                        pending.Push(value.MessageType);
                    }
                }
                else if (field.FieldType is FieldType.Message or FieldType.Group)
                {
                    pending.Push(field.MessageType);
                }
            }
        }

        return seen;
    }

    private static SortedSet<string> TextAndBytesFields(IEnumerable<MessageDescriptor> messages)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var message in messages)
        {
            foreach (var field in message.Fields.InDeclarationOrder())
            {
                var name = $"{message.Name}.{field.Name}";
                if (field.IsMap)
                {
                    var key = field.MessageType.FindFieldByNumber(1);
                    var value = field.MessageType.FindFieldByNumber(2);
                    found.Add($"{name}: map key {key.FieldType.ToString().ToLowerInvariant()}");
                    if (value.FieldType is FieldType.String or FieldType.Bytes)
                    {
                        found.Add($"{name}: map value {value.FieldType.ToString().ToLowerInvariant()}");
                    }
                }
                else if (field.FieldType is FieldType.String or FieldType.Bytes)
                {
                    found.Add($"{name}: {field.FieldType.ToString().ToLowerInvariant()}");
                }
            }
        }

        return found;
    }
}
