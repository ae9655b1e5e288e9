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
}
