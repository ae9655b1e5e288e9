using System.Threading.RateLimiting;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Security;

/// <summary>
/// Per-user, per-method fixed-window limit on the methods marked <see cref="ExpensiveCallAttribute"/>.
/// Runs as a gRPC interceptor (not ASP.NET's rate-limiting middleware) so that a refusal is the gRPC
/// status ResourceExhausted, which clients treat as "back off", rather than HTTP 429.
/// </summary>
internal sealed class ExpensiveCallLimiter : Interceptor, IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly int _perMinute;

    public ExpensiveCallLimiter(IOptions<NodeOptions> options)
    {
        _perMinute = options.Value.RateLimit.ExpensiveCallsPerMinute;
        _limiter = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = _perMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(requestStream, responseStream, context);
    }

    public void Dispose() => _limiter.Dispose();

    private void Admit(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        if (http.GetEndpoint()?.Metadata.GetMetadata<ExpensiveCallAttribute>() is null)
        {
            return;
        }

        using var lease = _limiter.AttemptAcquire(CallerIdentity.Key(http.User) + " " + context.Method);
        if (!lease.IsAcquired)
        {
            throw new RpcException(new Status(
                StatusCode.ResourceExhausted,
                $"{context.Method} is limited to {_perMinute} calls per minute per user; try again in a minute"));
        }
    }
}
