using GenerateCT.Admin.V1;
using GenerateCT.Generation.V1;
using GenerateCT.Node.Security;
using Google.Protobuf.Reflection;
using Grpc.Core;

namespace GenerateCT.Node.Tests;

[Collection(SecuredNodeCollection.Name)]
public class EveryMethodAuthorizationTests(SecuredNodeFixture node)
{
    /// <summary>The role matrix the node promises (README): method → roles allowed.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["generatect.admin.v1.NodeAdmin/GetStatus"] = [NodeRoles.Admin, NodeRoles.DataSteward, NodeRoles.Auditor],
        ["generatect.admin.v1.NodeAdmin/ListSeries"] = [NodeRoles.DataSteward, NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/ListQuarantine"] = [NodeRoles.DataSteward, NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/UploadReport"] = [NodeRoles.DataSteward],
        ["generatect.admin.v1.NodeAdmin/VerifyAudit"] = [NodeRoles.Auditor],
        ["generatect.admin.v1.NodeAdmin/ExportAudit"] = [NodeRoles.Auditor],
        ["generatect.admin.v1.NodeAdmin/ListModels"] = [NodeRoles.Admin, NodeRoles.Researcher],
        ["generatect.admin.v1.NodeAdmin/ActivateModel"] = [NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/GetTrainingSet"] = [NodeRoles.DataSteward, NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/ListStageApprovals"] = [NodeRoles.DataSteward, NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/ApproveStage"] = [NodeRoles.DataSteward],
        ["generatect.admin.v1.NodeAdmin/WithdrawStage"] = [NodeRoles.DataSteward],
        ["generatect.admin.v1.NodeAdmin/StartTraining"] = [NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/GetTrainingJob"] = [NodeRoles.DataSteward, NodeRoles.Admin],
        ["generatect.admin.v1.NodeAdmin/ListTrainingJobs"] = [NodeRoles.DataSteward, NodeRoles.Admin],
        ["generatect.generation.v1.Generation/SubmitCohort"] = [NodeRoles.Researcher],
        ["generatect.generation.v1.Generation/WatchJob"] = [NodeRoles.Researcher],
        ["generatect.generation.v1.Generation/GetJob"] = [NodeRoles.Researcher],
        ["generatect.generation.v1.Generation/ListJobs"] = [NodeRoles.Researcher],
        ["generatect.generation.v1.Generation/CancelJob"] = [NodeRoles.Researcher],
        ["generatect.generation.v1.Generation/DownloadOutput"] = [NodeRoles.Researcher],
    };

    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    private static IEnumerable<MethodDescriptor> EveryMethod() =>
        new[] { AdminReflection.Descriptor, GenerationReflection.Descriptor }
            .SelectMany(file => file.Services)
            .SelectMany(service => service.Methods);

    /// <summary>Calls a method with an empty request message (valid protobuf for any message type).</summary>
    private async Task<StatusCode> CallAsync(MethodDescriptor m, CallOptions options)
    {
        var invoker = node.Channel.CreateCallInvoker();
        try
        {
            if (!m.IsClientStreaming && !m.IsServerStreaming)
            {
                var method = new Method<byte[], byte[]>(MethodType.Unary, m.Service.FullName, m.Name, Raw, Raw);
                await invoker.AsyncUnaryCall(method, null, options, []);
            }
            else if (!m.IsClientStreaming && m.IsServerStreaming)
            {
                var method = new Method<byte[], byte[]>(MethodType.ServerStreaming, m.Service.FullName, m.Name, Raw, Raw);
                using var call = invoker.AsyncServerStreamingCall(method, null, options, []);
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }
            }
            else
            {
                Assert.Fail($"{m.FullName}: client-streaming methods need a case in this test");
            }

            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    [Fact]
    public void The_role_matrix_covers_every_method_of_every_service()
    {
        var methods = EveryMethod().Select(m => $"{m.Service.FullName}/{m.Name}").ToList();
        Assert.Equal(21, methods.Count);
        Assert.Equal(Allowed.Keys.Order(), methods.Order());
    }

    [Fact]
    public async Task Every_method_is_unauthenticated_without_a_token()
    {
        foreach (var m in EveryMethod())
        {
            var status = await CallAsync(m, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)));
            Assert.True(status == StatusCode.Unauthenticated, $"{m.FullName} without a token answered {status}");
        }
    }

    [Fact]
    public async Task Every_method_is_permission_denied_with_a_valid_token_lacking_its_role()
    {
        foreach (var m in EveryMethod())
        {
            var allowed = Allowed[$"{m.Service.FullName}/{m.Name}"];
            var others = NodeRoles.All.Except(allowed).ToArray();
            Assert.NotEmpty(others);
            var status = await CallAsync(m, SecuredNodeFixture.Bearer(node.Token(others)));
            Assert.True(status == StatusCode.PermissionDenied, $"{m.FullName} with roles [{string.Join(',', others)}] answered {status}");
        }
    }

    [Fact]
    public async Task Every_method_admits_each_of_its_roles()
    {
        foreach (var m in EveryMethod())
        {
            foreach (var role in Allowed[$"{m.Service.FullName}/{m.Name}"])
            {
                var status = await CallAsync(m, SecuredNodeFixture.Bearer(node.Token(role)));
                Assert.True(
                    status is not (StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.Unimplemented or StatusCode.Internal or StatusCode.Unknown),
                    $"{m.FullName} as {role} answered {status}");
            }
        }
    }

    [Fact]
    public void Every_service_method_declares_an_explicit_policy()
    {
        foreach (var type in new[] { "GenerateCT.Node.Services.NodeAdminService", "GenerateCT.Node.Services.GenerationService" })
        {
            var service = typeof(NodeHost).Assembly.GetType(type, throwOnError: true)!;
            var overrides = service.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly);
            Assert.NotEmpty(overrides);
            foreach (var method in overrides)
            {
                var authorize = method.GetCustomAttributes(typeof(Microsoft.AspNetCore.Authorization.AuthorizeAttribute), false)
                    .Cast<Microsoft.AspNetCore.Authorization.AuthorizeAttribute>().SingleOrDefault();
                Assert.True(authorize?.Policy is { Length: > 0 }, $"{type}.{method.Name} has no [Authorize(Policy = …)]");
                Assert.Empty(method.GetCustomAttributes(typeof(Microsoft.AspNetCore.Authorization.AllowAnonymousAttribute), false));
            }
        }
    }
}
