using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GenerateCT.Deid.Reports;

/// <summary>
/// An HL7 v2 receiver over the Minimal Lower Layer Protocol (HL7 v2.5.1 Appendix C.4): each message
/// arrives framed as 0x0B, message, 0x1C 0x0D, and is answered with one ACK in the same framing — AA
/// when the handler completed, AR when the message could not be parsed or the handler threw
/// <see cref="Hl7RejectException"/>, AE for any other handler failure. One connection may carry many
/// messages; connections are served concurrently.
/// </summary>
public sealed class MllpListener : IAsyncDisposable
{
    public const byte StartBlock = 0x0B;
    public const byte EndBlock = 0x1C;
    public const byte CarriageReturn = 0x0D;

    private readonly TcpListener _listener;
    private readonly Func<Hl7Message, CancellationToken, Task> _handler;
    private readonly MllpListenerOptions _options;
    private readonly List<Task> _connections = [];
    private readonly Lock _gate = new();
    private CancellationTokenSource? _stopping;
    private Task? _acceptLoop;

    /// <param name="endpoint">Where to listen; port 0 picks a free port (see <see cref="LocalEndpoint"/>).</param>
    /// <param name="handler">Called once per received message; completing means the message is safely stored.</param>
    public MllpListener(IPEndPoint endpoint, Func<Hl7Message, CancellationToken, Task> handler, MllpListenerOptions? options = null)
    {
        _listener = new TcpListener(endpoint);
        _handler = handler;
        _options = options ?? new MllpListenerOptions();
    }

    /// <summary>The bound address and port (valid after <see cref="StartAsync"/>).</summary>
    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_acceptLoop is not null)
            throw new InvalidOperationException("the MLLP listener is already started");
        _listener.Start();
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _acceptLoop = AcceptLoopAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_stopping is null)
            return;
        await _stopping.CancelAsync();
        _listener.Stop();
        Task[] pending;
        lock (_gate)
            pending = [.. _connections, _acceptLoop ?? Task.CompletedTask];
        try
        {
            await Task.WhenAll(pending).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Connections end by cancellation; that is the normal way to stop.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping?.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && ct.IsCancellationRequested)
            {
                return;
            }
            var task = ServeAsync(client, ct);
            lock (_gate)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(task);
            }
        }
    }

    private async Task ServeAsync(TcpClient client, CancellationToken ct)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var reader = new MllpFrameReader(stream, _options.MaxMessageBytes);
            while (!ct.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
                idle.CancelAfter(_options.IdleTimeout);
                var frame = await reader.ReadFrameAsync(idle.Token);
                if (frame is null)
                    return;
                var ack = await HandleAsync(frame, ct);
                await stream.WriteAsync(MllpFrameReader.Frame(ack), ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
            // The peer went away or sent an oversized/garbled frame: drop the connection.
        }
        catch (MllpFramingException)
        {
        }
    }

    private async Task<string> HandleAsync(byte[] frame, CancellationToken ct)
    {
        Hl7Message message;
        try
        {
            message = Hl7Message.Parse(Decode(frame));
        }
        catch (Hl7ParseException e)
        {
            return Hl7Acknowledgement.Build(null, Hl7AckCode.AR, e.Message);
        }
        try
        {
            await _handler(message, ct);
            return Hl7Acknowledgement.Build(message, Hl7AckCode.AA);
        }
        catch (Hl7RejectException e)
        {
            return Hl7Acknowledgement.Build(message, Hl7AckCode.AR, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Hl7Acknowledgement.Build(message, Hl7AckCode.AE, e.GetType().Name + ": " + e.Message);
        }
    }

    /// <summary>UTF-8 when the bytes are valid UTF-8, otherwise ISO-8859-1 (the HL7 default character set).</summary>
    public static string Decode(byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(bytes);
        }
    }
}

/// <summary>Tunables of <see cref="MllpListener"/>.</summary>
public sealed class MllpListenerOptions
{
    /// <summary>Frames larger than this close the connection.</summary>
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>A connection silent this long is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Reads MLLP frames from a stream; also frames outgoing messages (used by senders and tests).</summary>
public sealed class MllpFrameReader(Stream stream, int maxMessageBytes = 16 * 1024 * 1024)
{
    private readonly byte[] _buffer = new byte[8192];
    private int _start;
    private int _end;

    /// <summary>The next frame's payload, or null when the peer closed the connection between frames.</summary>
    public async Task<byte[]?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        // Bytes before the start block are noise (PS: keep-alives, stray CR/LF) and are skipped.
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
                return null;
            var b = _buffer[_start++];
            if (b == MllpListener.StartBlock)
                break;
        }
        using var payload = new MemoryStream();
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
                throw new MllpFramingException("connection closed inside an MLLP frame");
            var b = _buffer[_start++];
            if (b == MllpListener.EndBlock)
            {
                if (_start == _end && !await FillAsync(cancellationToken))
                    throw new MllpFramingException("connection closed after 0x1C without the closing 0x0D");
                if (_buffer[_start] == MllpListener.CarriageReturn)
                    _start++;
                return payload.ToArray();
            }
            payload.WriteByte(b);
            if (payload.Length > maxMessageBytes)
                throw new MllpFramingException($"MLLP frame exceeds {maxMessageBytes} bytes");
        }
    }

    public static byte[] Frame(string message)
    {
        var body = Encoding.UTF8.GetBytes(message);
        var framed = new byte[body.Length + 3];
        framed[0] = MllpListener.StartBlock;
        body.CopyTo(framed, 1);
        framed[^2] = MllpListener.EndBlock;
        framed[^1] = MllpListener.CarriageReturn;
        return framed;
    }

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        _start = 0;
        _end = await stream.ReadAsync(_buffer, ct);
        return _end > 0;
    }
}
