using System.Collections;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GenerateCT.Federation.V1;
using GenerateCT.Node.Federation;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace GenerateCT.Node.Tests;

/// <summary>One request message the node sent to the coordinator, serialized as it went on the wire.</summary>
internal sealed record SentMessage(string Method, MessageDescriptor Type, byte[] Bytes)
{
    public IMessage Parse() => Type.Parser.ParseFrom(Bytes);
}

/// <summary>One call the node made to the coordinator, with the metadata it sent.</summary>
internal sealed record SentCall(string Method, IReadOnlyList<(string Key, string Value)> Headers);

/// <summary>
/// Records every call the node's federation client makes to the coordinator and every request message of it
/// (unary, server-streaming, client-streaming and duplex), serialized with <c>ToByteArray()</c> when it is sent.
/// </summary>
internal sealed class WireRecorder : CoordinatorInterceptor
{
    private readonly ConcurrentQueue<SentMessage> _messages = new();
    private readonly ConcurrentQueue<SentCall> _calls = new();

    public IReadOnlyList<SentMessage> Messages => [.. _messages];

    public IReadOnlyList<SentCall> Calls => [.. _calls];

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        RecordCall(context);
        Record(context, request);
        return continuation(request, context);
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        RecordCall(context);
        Record(context, request);
        return continuation(request, context);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        RecordCall(context);
        Record(context, request);
        return continuation(request, context);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        RecordCall(context);
        var call = continuation(context);
        return new AsyncClientStreamingCall<TRequest, TResponse>(
            new RecordingWriter<TRequest>(call.RequestStream, m => Record(context, m)), call.ResponseAsync, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        RecordCall(context);
        var call = continuation(context);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(
            new RecordingWriter<TRequest>(call.RequestStream, m => Record(context, m)), call.ResponseStream, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    private void RecordCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class =>
        _calls.Enqueue(new SentCall(context.Method.FullName, context.Options.Headers?.Select(h => (h.Key, h.IsBinary ? Convert.ToHexString(h.ValueBytes) : h.Value)).ToList() ?? []));

    private void Record<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, TRequest request)
        where TRequest : class
        where TResponse : class
    {
        var message = (IMessage)request;
        _messages.Enqueue(new SentMessage(context.Method.FullName, message.Descriptor, message.ToByteArray()));
    }

    private sealed class RecordingWriter<T>(IClientStreamWriter<T> inner, Action<T> record) : IClientStreamWriter<T>
    {
        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task WriteAsync(T message)
        {
            record(message);
            return inner.WriteAsync(message);
        }

        public Task WriteAsync(T message, CancellationToken cancellationToken)
        {
            record(message);
            return inner.WriteAsync(message, cancellationToken);
        }

        public Task CompleteAsync() => inner.CompleteAsync();
    }
}

/// <summary>What the node may put in a message to the coordinator: per string field, per map's keys, per tensor.</summary>
internal sealed record WireAllowList(
    IReadOnlySet<string> SoftwareVersions,
    IReadOnlySet<string> Devices,
    IReadOnlyDictionary<string, IReadOnlyList<long>> Tensors,
    IReadOnlySet<string> MetricNames);

/// <summary>The scans of the proof that only weights leave a node.</summary>
internal static class WireCheck
{
    /// <summary>The request types of the Coordinator service: all a node may send.</summary>
    public static readonly IReadOnlySet<string> RequestTypes =
        FederationReflection.Descriptor.Services.Single(s => s.Name == "Coordinator").Methods.Select(m => m.InputType.FullName).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The markers found in <paramref name="bytes"/>: as UTF-8, UTF-16 (little and big endian), and in any letter case
    /// when the bytes are read as Latin-1 text.
    /// </summary>
    public static List<string> MarkerHits(byte[] bytes, IEnumerable<string> markers)
    {
        var text = Encoding.Latin1.GetString(bytes);
        var hits = new List<string>();
        foreach (var marker in markers)
        {
            if (bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) >= 0
                || bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(marker)) >= 0
                || bytes.AsSpan().IndexOf(Encoding.BigEndianUnicode.GetBytes(marker)) >= 0
                || text.Contains(marker, StringComparison.OrdinalIgnoreCase))
            {
                hits.Add(marker);
            }
        }

        return hits;
    }

    /// <summary>
    /// Every string, map key and bytes value of <paramref name="message"/> (and the messages in it) that is not on
    /// <paramref name="allowed"/>: strings only in the fields the list names, with its values; map keys only of
    /// MetricsReport.scalars, metric names; bytes only a TensorChunk's data (its tensor's dtype and size) and hash.
    /// </summary>
    public static List<string> Violations(IMessage message, WireAllowList allowed)
    {
        var violations = new List<string>();
        if (!RequestTypes.Contains(message.Descriptor.FullName))
        {
            violations.Add($"{message.Descriptor.FullName} is not a request of the Coordinator service");
        }

        Walk(message, allowed, violations);
        return violations;
    }

    private static void Walk(IMessage message, WireAllowList allowed, List<string> violations)
    {
        if (message is TensorChunk chunk)
        {
            CheckChunk(chunk, allowed, violations);
        }

        foreach (var field in message.Descriptor.Fields.InDeclarationOrder())
        {
            var name = $"{message.Descriptor.Name}.{field.Name}";
            var value = field.Accessor.GetValue(message);
            if (value is null)
            {
                continue;
            }

            if (field.IsMap)
            {
                foreach (DictionaryEntry entry in (IDictionary)value)
                {
                    if (entry.Key is string key && !(name == "MetricsReport.scalars" && allowed.MetricNames.Contains(key)))
                    {
                        violations.Add($"{name} key \"{key}\" is not on the allowed list");
                    }

                    Value(name + " value", entry.Value, allowed, violations);
                }
            }
            else if (field.IsRepeated)
            {
                foreach (var item in (IList)value)
                {
                    Value(name, item, allowed, violations);
                }
            }
            else
            {
                Value(name, value, allowed, violations);
            }
        }
    }

    private static void Value(string field, object? value, WireAllowList allowed, List<string> violations)
    {
        switch (value)
        {
            case string s when s.Length > 0 && !AllowedString(field, s, allowed):
                violations.Add($"{field} = \"{s}\" is not on the allowed list");
                break;
            case ByteString b when !b.IsEmpty && field is not ("TensorChunk.data" or "TensorChunk.sha256"):
                violations.Add($"{field} carries {b.Length} bytes: only tensor data and hashes may");
                break;
            case IMessage m:
                Walk(m, allowed, violations);
                break;
        }
    }

    private static bool AllowedString(string field, string value, WireAllowList allowed) => field switch
    {
        "EnrolRequest.node_software_version" => allowed.SoftwareVersions.Contains(value),
        "EnrolRequest.device" => allowed.Devices.Contains(value),
        "TensorChunk.name" => allowed.Tensors.ContainsKey(value),
        _ => false,
    };

    /// <summary>A chunk's bytes are a slice of a known tensor: its shape, float32 elements within it, a 32-byte hash on the last chunk only.</summary>
    private static void CheckChunk(TensorChunk chunk, WireAllowList allowed, List<string> violations)
    {
        if (!allowed.Tensors.TryGetValue(chunk.Name, out var shape))
        {
            return; // reported as a string violation
        }

        var elements = shape.Aggregate(1L, (a, b) => a * b);
        if (!chunk.Shape.SequenceEqual(shape))
        {
            violations.Add($"TensorChunk {chunk.Name}: shape [{string.Join(',', chunk.Shape)}] is not the model's [{string.Join(',', shape)}]");
        }

        if (chunk.Dtype != TensorDtype.Float32 || chunk.Data.Length % sizeof(float) != 0 || chunk.Offset < 0 || chunk.Offset + (chunk.Data.Length / sizeof(float)) > elements)
        {
            violations.Add($"TensorChunk {chunk.Name}: {chunk.Dtype} data of {chunk.Data.Length} bytes at element {chunk.Offset} is not a slice of a {elements}-element float32 tensor");
        }

        if (chunk.Sha256.Length != (chunk.LastChunkOfTensor ? SHA256.HashSizeInBytes : 0))
        {
            violations.Add($"TensorChunk {chunk.Name}: a sha256 of {chunk.Sha256.Length} bytes (last chunk: {chunk.LastChunkOfTensor})");
        }
    }

    /// <summary>Each uploaded tensor's hash is the SHA-256 of its data chunks: the hash bytes carry nothing else.</summary>
    public static List<string> HashViolations(IEnumerable<TensorChunk> chunks)
    {
        var violations = new List<string>();
        foreach (var tensor in chunks.GroupBy(c => c.Name))
        {
            var data = tensor.DistinctBy(c => c.Offset).OrderBy(c => c.Offset).SelectMany(c => c.Data.ToByteArray()).ToArray();
            var last = tensor.LastOrDefault(c => c.LastChunkOfTensor);
            if (last is null || !last.Sha256.Span.SequenceEqual(SHA256.HashData(data)))
            {
                violations.Add($"TensorChunk {tensor.Key}: its sha256 is not the hash of its data");
            }
        }

        return violations;
    }
}
