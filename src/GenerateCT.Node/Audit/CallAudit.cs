using System.Text.Json;
using GenerateCT.Data.Audit;
using GenerateCT.Node.Security;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Authentication;

namespace GenerateCT.Node.Audit;

/// <summary>
/// One audit row per authenticated gRPC call: user, method, outcome (success, denied, failure) and
/// the gRPC status. It is the outermost interceptor, so calls refused by the rate limiter are
/// recorded too; calls refused before reaching gRPC (no or bad token, missing role) are recorded by
/// <see cref="DeniedCallAudit"/>. Health checks (anonymous) are not audited.
/// </summary>
internal sealed class CallAuditInterceptor(AuditTrail trail) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        AuditedAsync(context, () => continuation(request, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        AuditedAsync(context, async () =>
        {
            await continuation(request, responseStream, context);
            return true;
        });

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        AuditedAsync(context, () => continuation(requestStream, context));

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        AuditedAsync(context, async () =>
        {
            await continuation(requestStream, responseStream, context);
            return true;
        });

    /// <summary>Runs the call and records its outcome: OK, the RpcException's status, or Cancelled.</summary>
    private async Task<T> AuditedAsync<T>(ServerCallContext context, Func<Task<T>> call)
    {
        var status = StatusCode.Unknown;
        try
        {
            var result = await call();
            status = StatusCode.OK;
            return result;
        }
        catch (RpcException e)
        {
            status = e.StatusCode;
            throw;
        }
        catch (OperationCanceledException)
        {
            status = StatusCode.Cancelled;
            throw;
        }
        finally
        {
            await RecordAsync(context, status);
        }
    }

    private async Task RecordAsync(ServerCallContext context, StatusCode status)
    {
        var http = context.GetHttpContext();
        if (http.User.Identity?.IsAuthenticated != true)
        {
            return;
        }

        // Written even when the caller has gone away: the row must not depend on the client.
        await trail.AppendAsync(CallAuditEntry.For(http, status, reason: null), CancellationToken.None);
    }
}

/// <summary>
/// Records calls the authorization middleware refuses before they reach gRPC: no token or an
/// invalid one (Unauthenticated) and a valid token without the method's role (PermissionDenied).
/// </summary>
internal sealed class DeniedCallAudit(AuditTrail trail) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Challenged || authorizeResult.Forbidden)
        {
            var status = authorizeResult.Forbidden ? StatusCode.PermissionDenied : StatusCode.Unauthenticated;
            // The authentication middleware keeps only successes; the handler caches its result per
            // request, so asking again returns the same failure without validating the token twice.
            var failure = authorizeResult.Forbidden ? null : (await context.AuthenticateAsync()).Failure;
            var reason = authorizeResult.Forbidden
                ? "the token lacks the method's role"
                : failure is null ? "no bearer token" : failure.GetType().Name;
            await trail.AppendAsync(CallAuditEntry.For(context, status, reason), CancellationToken.None);
        }

        await _default.HandleAsync(next, context, policy, authorizeResult);
    }
}

internal static class CallAuditEntry
{
    public static AuditEntry For(HttpContext http, StatusCode status, string? reason)
    {
        var outcome = status switch
        {
            StatusCode.OK => "success",
            StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.ResourceExhausted => "denied",
            _ => "failure",
        };
        var detail = new Dictionary<string, object?>
        {
            ["status"] = status.ToString(),
            ["peer"] = http.Connection.RemoteIpAddress?.ToString(),
        };
        if (http.User.Identity?.IsAuthenticated == true)
        {
            detail["oid"] = CallerIdentity.ObjectId(http.User);
            detail["tid"] = CallerIdentity.TenantId(http.User);
            detail["roles"] = http.User.FindAll("roles").Select(c => c.Value).ToArray();
        }

        if (reason is not null)
        {
            detail["reason"] = reason;
        }

        foreach (var (name, value) in CallAuditDetail.Of(http))
        {
            detail.TryAdd(name, value);
        }

        return new AuditEntry(CallerIdentity.Name(http.User), "grpc:" + http.Request.Path.Value, outcome, JsonSerializer.Serialize(detail));
    }
}

/// <summary>
/// What a call was about (job, output, prompts), added by the service method to its call's audit row.
/// Only non-identifying facts go here: ids, sizes, and the researcher's own prompts; never patient data.
/// </summary>
internal static class CallAuditDetail
{
    private static readonly object Key = new();
    private static readonly Dictionary<string, object?> None = [];

    public static void Add(ServerCallContext context, string name, object? value)
    {
        var items = context.GetHttpContext().Items;
        if (items[Key] is not Dictionary<string, object?> detail)
        {
            items[Key] = detail = [];
        }

        detail[name] = value;
    }

    public static IReadOnlyDictionary<string, object?> Of(HttpContext http) =>
        http.Items[Key] as Dictionary<string, object?> ?? None;
}
