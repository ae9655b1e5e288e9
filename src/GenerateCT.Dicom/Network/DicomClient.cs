using System.IO.Compression;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using GenerateCT.Dicom.Imaging;
using GenerateCT.Dicom.IO;

namespace GenerateCT.Dicom.Network;

/// <summary>TLS settings of an SCU (PS3.15 Annex B).</summary>
public sealed class DicomClientTlsOptions
{
    /// <summary>Our certificate (with private key) if the SCP requires one.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Roots trusted for the server certificate; empty uses the system store.</summary>
    public X509Certificate2Collection TrustedServerAuthorities { get; } = [];

    /// <summary>Name checked against the server certificate; null skips the name check (DICOM peers are often addressed by IP).</summary>
    public string? ServerName { get; set; }
}

/// <summary>Where and as whom an SCU connects.</summary>
public sealed class DicomClientOptions
{
    public required string Host { get; set; }

    public required int Port { get; set; }

    public required string CalledAeTitle { get; set; }

    public string CallingAeTitle { get; set; } = "GENERATECT_SCU";

    /// <summary>Largest P-DATA PDU we accept from the SCP.</summary>
    public uint MaxPduLength { get; set; } = 256 * 1024;

    /// <summary>ARTIM: connect, TLS handshake, A-ASSOCIATE-AC and A-RELEASE-RP must each arrive within this.</summary>
    public TimeSpan ArtimTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed for a DIMSE response.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromMinutes(2);

    public DicomClientTlsOptions? Tls { get; set; }
}

/// <summary>
/// A C-ECHO / C-STORE SCU on one association (PS3.7 §9.1.1, §9.1.5; PS3.8). Operations are
/// synchronous (one outstanding request, async operations window 1).
/// </summary>
public sealed class DicomClient : IAsyncDisposable
{
    private readonly DicomClientOptions _options;
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly DicomConnection _connection;
    private ushort _messageId;
    private bool _closed;

    private DicomClient(DicomClientOptions options, TcpClient tcp, Stream stream, DicomConnection connection, IReadOnlyList<PresentationContext> contexts, AssociationParameters accept)
    {
        _options = options;
        _tcp = tcp;
        _stream = stream;
        _connection = connection;
        PresentationContexts = contexts;
        PeerImplementationClassUid = accept.ImplementationClassUid;
        PeerImplementationVersionName = accept.ImplementationVersionName;
        PeerMaxPduLength = accept.MaxPduLength;
    }

    /// <summary>Proposed contexts with the SCP's answers.</summary>
    public IReadOnlyList<PresentationContext> PresentationContexts { get; }

    public string PeerImplementationClassUid { get; }

    public string? PeerImplementationVersionName { get; }

    public uint PeerMaxPduLength { get; }

    /// <summary>Opens an association proposing Verification and, for each SOP class, the given syntaxes (default: Explicit then Implicit VR LE).</summary>
    public static async Task<DicomClient> ConnectAsync(DicomClientOptions options, IEnumerable<(string SopClass, IReadOnlyList<DicomTransferSyntax> Syntaxes)> contexts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rq = Propose(options, contexts);
        using var artim = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        artim.CancelAfter(options.ArtimTimeout);
        var tcp = new TcpClient { NoDelay = true };
        var stream = new BufferedStream(await OpenTransportAsync(options, tcp, artim.Token, cancellationToken).ConfigureAwait(false), 64 * 1024);
        var connection = new DicomConnection(stream, options.MaxPduLength, long.MaxValue);
        try
        {
            var ac = await RequestAssociationAsync(connection, rq, artim.Token).ConfigureAwait(false);
            return new DicomClient(options, tcp, stream, connection, rq.PresentationContexts, ac);
        }
        catch (Exception ex)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            tcp.Dispose();
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new DicomNetworkException($"ARTIM timer expired: no A-ASSOCIATE answer from {options.Host}:{options.Port} within {options.ArtimTimeout}", ex);
            }

            throw;
        }
    }

    /// <summary>The A-ASSOCIATE-RQ: Verification on context 1, then one context per SOP class (odd ids, PS3.8 §9.3.2.2).</summary>
    private static AssociationParameters Propose(DicomClientOptions options, IEnumerable<(string SopClass, IReadOnlyList<DicomTransferSyntax> Syntaxes)> contexts)
    {
        var rq = new AssociationParameters
        {
            CalledAeTitle = options.CalledAeTitle,
            CallingAeTitle = options.CallingAeTitle,
            MaxPduLength = options.MaxPduLength,
            AsyncOperations = (1, 1),
        };
        byte id = 1;
        rq.PresentationContexts.Add(new PresentationContext(id, DicomUid.Verification, [DicomTransferSyntax.ExplicitVRLittleEndian.Uid, DicomTransferSyntax.ImplicitVRLittleEndian.Uid]));
        foreach (var (sopClass, syntaxes) in contexts)
        {
            id += 2;
            if (id < 3)
            {
                throw new ArgumentException("more than 127 presentation contexts (PS3.8 §9.3.2.2)", nameof(contexts));
            }

            rq.PresentationContexts.Add(new PresentationContext(id, sopClass, [.. syntaxes.Select(s => s.Uid).Distinct()]));
        }

        return rq;
    }

    /// <summary>Connects the TCP transport and, when configured, runs the TLS handshake; failures become <see cref="DicomNetworkException"/> unless the caller cancelled.</summary>
    private static async Task<Stream> OpenTransportAsync(DicomClientOptions options, TcpClient tcp, CancellationToken artim, CancellationToken cancellationToken)
    {
        try
        {
            await tcp.ConnectAsync(options.Host, options.Port, artim).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            if (options.Tls is { } tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = tls.ServerName ?? options.Host,
                        ClientCertificates = tls.ClientCertificate is null ? null : [tls.ClientCertificate],
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        RemoteCertificateValidationCallback = (_, c, _, errors) => DicomTls.ValidatePeer(c, errors, tls.TrustedServerAuthorities, required: true, checkName: tls.ServerName is not null),
                    },
                    artim).ConfigureAwait(false);
                stream = ssl;
            }

            return stream;
        }
        catch (Exception ex) when (ex is SocketException or AuthenticationException or IOException or OperationCanceledException)
        {
            tcp.Dispose();
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new DicomNetworkException($"cannot reach {options.CalledAeTitle} at {options.Host}:{options.Port}: {ex.Message}", ex);
        }
    }

    /// <summary>Sends the A-ASSOCIATE-RQ and reads the answer: A-ASSOCIATE-AC (each proposed context gets its result) or an exception saying why not.</summary>
    private static async Task<AssociationParameters> RequestAssociationAsync(DicomConnection connection, AssociationParameters rq, CancellationToken artim)
    {
        await connection.SendPduAsync(PduType.AssociateRequest, rq.Encode(PduType.AssociateRequest), artim).ConfigureAwait(false);
        using var answer = await connection.ReceivePduAsync(artim).ConfigureAwait(false);
        switch (answer.Type)
        {
            case PduType.AssociateAccept:
                var ac = AssociationParameters.Decode(answer.Body, PduType.AssociateAccept);
                foreach (var pc in rq.PresentationContexts)
                {
                    var a = ac.PresentationContexts.FirstOrDefault(x => x.Id == pc.Id);
                    pc.Result = a?.Result ?? PresentationContextResult.NoReason;
                    pc.AcceptedTransferSyntax = a?.AcceptedTransferSyntax;
                }

                connection.PeerMaxPdu = ac.MaxPduLength;
                return ac;
            case PduType.AssociateReject when answer.Length >= 4:
                throw new DicomAssociationRejectedException(new AssociationRejection(answer.Body[1], answer.Body[2], answer.Body[3]));
            case PduType.Abort:
                throw new DicomNetworkException($"the SCP aborted the association request (source {answer.Body[2]}, reason {answer.Body[3]})");
            default:
                throw new DicomNetworkException($"expected A-ASSOCIATE-AC/RJ, received {answer.Type}");
        }
    }

    /// <summary>Opens an association proposing what <paramref name="files"/> need (each file's syntax, then Explicit/Implicit VR LE).</summary>
    public static Task<DicomClient> ConnectForFilesAsync(DicomClientOptions options, IEnumerable<DicomFile> files, CancellationToken cancellationToken = default)
    {
        var contexts = files
            .GroupBy(f => (Cls: f.Dataset.GetUid(DicomTag.SOPClassUID) ?? string.Empty, f.TransferSyntax))
            .Select(g => (g.Key.Cls, ProposedSyntaxes(g.Key.TransferSyntax)))
            .ToList();
        return ConnectAsync(options, contexts, cancellationToken);
    }

    /// <summary>What to propose for a file: its own syntax (unless Big Endian, which we do not write), then Explicit and Implicit VR LE.</summary>
    public static IReadOnlyList<DicomTransferSyntax> ProposedSyntaxes(DicomTransferSyntax fileSyntax) =>
        [.. new[] { fileSyntax, DicomTransferSyntax.ExplicitVRLittleEndian, DicomTransferSyntax.ImplicitVRLittleEndian }.Where(t => !t.IsBigEndian).Distinct()];

    /// <summary>C-ECHO: verifies the association end to end (PS3.7 §9.1.5).</summary>
    public async Task<DicomStatus> EchoAsync(CancellationToken cancellationToken = default)
    {
        var pc = PresentationContexts.FirstOrDefault(p => p.AbstractSyntax == DicomUid.Verification && p.IsAccepted)
            ?? throw new DicomNetworkException("the SCP did not accept the Verification SOP class");
        var response = await RequestAsync(new DimseMessage(pc.Id, DimseCommands.EchoRequest(NextMessageId())), DimseCommands.CEchoResponse, cancellationToken).ConfigureAwait(false);
        return response;
    }

    /// <summary>C-STORE one instance, re-encoded if the SCP accepted a different native syntax; returns the SCP's status.</summary>
    public async Task<DicomStatus> StoreAsync(DicomFile file, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        var sopClass = file.Dataset.GetUid(DicomTag.SOPClassUID) ?? throw new ArgumentException("the data set has no SOP Class UID", nameof(file));
        var sopInstance = file.Dataset.GetUid(DicomTag.SOPInstanceUID) ?? throw new ArgumentException("the data set has no SOP Instance UID", nameof(file));
        // Contexts whose syntax we can write (not Big Endian); the file's own syntax first, as-is.
        var candidates = PresentationContexts.Where(p => p.AbstractSyntax == sopClass && p.IsAccepted && !DicomTransferSyntax.Lookup(p.AcceptedTransferSyntax!).IsBigEndian).ToList();
        var pc = candidates.FirstOrDefault(p => p.AcceptedTransferSyntax == file.TransferSyntax.Uid)
            ?? candidates.FirstOrDefault(p => !DicomTransferSyntax.Lookup(p.AcceptedTransferSyntax!).IsEncapsulated)
            ?? throw new DicomNetworkException($"the SCP accepted no usable presentation context for SOP class {sopClass} in {file.TransferSyntax.Name}");
        var syntax = DicomTransferSyntax.Lookup(pc.AcceptedTransferSyntax!);
        var dataset = file.Dataset;
        if (!syntax.Equals(file.TransferSyntax) && file.TransferSyntax.IsEncapsulated)
        {
            if (syntax.IsEncapsulated)
            {
                throw new DicomNotSupportedException($"cannot transcode {file.TransferSyntax.Name} to {syntax.Name}");
            }

            dataset = DicomPixelData.Decompress(dataset, file.TransferSyntax);
        }

        var bytes = Encode(dataset, syntax);
        var command = DimseCommands.StoreRequest(NextMessageId(), sopClass, sopInstance);
        return await RequestAsync(new DimseMessage(pc.Id, command, bytes), DimseCommands.CStoreResponse, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends already encoded data set bytes as they are (tests use it to deliver broken data sets).</summary>
    internal Task<DicomStatus> StoreRawAsync(string sopClass, string sopInstance, ReadOnlyMemory<byte> encodedDataset, CancellationToken cancellationToken = default)
    {
        var pc = PresentationContexts.FirstOrDefault(p => p.AbstractSyntax == sopClass && p.IsAccepted)
            ?? throw new DicomNetworkException($"the SCP accepted no presentation context for SOP class {sopClass}");
        return RequestAsync(new DimseMessage(pc.Id, DimseCommands.StoreRequest(NextMessageId(), sopClass, sopInstance), encodedDataset), DimseCommands.CStoreResponse, cancellationToken);
    }

    /// <summary>Orderly release (A-RELEASE-RQ / RP), then closes the connection.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken = default)
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        try
        {
            using var artim = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            artim.CancelAfter(_options.ArtimTimeout);
            await _connection.SendPduAsync(PduType.ReleaseRequest, new byte[4], artim.Token).ConfigureAwait(false);
            while (true)
            {
                using var pdu = await _connection.ReceivePduAsync(artim.Token).ConfigureAwait(false);
                if (pdu.Type is PduType.ReleaseResponse or PduType.Abort)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or DicomNetworkException or IOException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A-ABORT and close.</summary>
    public async Task AbortAsync()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _connection.SendAbortAsync(0, 0, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await ReleaseAsync().ConfigureAwait(false);
    }

    /// <summary>Connects, sends C-ECHO, releases.</summary>
    public static async Task<DicomStatus> EchoAsync(DicomClientOptions options, CancellationToken cancellationToken = default)
    {
        await using var client = await ConnectAsync(options, [], cancellationToken).ConfigureAwait(false);
        return await client.EchoAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static ReadOnlyMemory<byte> Encode(DicomDataset dataset, DicomTransferSyntax syntax)
    {
        using var ms = new MemoryStream();
        if (syntax.IsDeflated)
        {
            using (var deflate = new DeflateStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            {
                DicomDatasetWriter.Write(deflate, dataset, syntax);
            }
        }
        else
        {
            DicomDatasetWriter.Write(ms, dataset, syntax);
        }

        return ms.GetBuffer().AsMemory(0, (int)ms.Length);
    }

    private ushort NextMessageId() => ++_messageId == 0 ? ++_messageId : _messageId;

    private async Task<DicomStatus> RequestAsync(DimseMessage request, ushort expectedResponse, CancellationToken cancellationToken)
    {
        if (_closed)
        {
            throw new InvalidOperationException("the association is closed");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ResponseTimeout);
        try
        {
            await _connection.SendMessageAsync(request, timeout.Token).ConfigureAwait(false);
            var (message, other) = await _connection.ReceiveMessageAsync(timeout.Token).ConfigureAwait(false);
            if (other is not null)
            {
                using (other)
                {
                    _closed = true;
                    await CloseAsync().ConfigureAwait(false);
                    throw new DicomNetworkException(other.Type == PduType.Abort
                        ? $"the SCP aborted the association (source {other.Body[2]}, reason {other.Body[3]})"
                        : $"unexpected {other.Type} instead of a DIMSE response");
                }
            }

            if (message!.CommandField != expectedResponse
                || message.Command.GetInt32(DicomTag.MessageIDBeingRespondedTo) != request.Command.GetInt32(DicomTag.MessageID))
            {
                throw new DicomNetworkException($"unexpected DIMSE response 0x{message.CommandField:X4}");
            }

            return new DicomStatus((ushort)message.Command.GetInt32(DicomTag.Status), message.Command.GetString(DicomTag.ErrorComment));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await AbortAsync().ConfigureAwait(false);
            throw new DicomNetworkException($"no DIMSE response within {_options.ResponseTimeout}; association aborted");
        }
    }

    private async Task CloseAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _tcp.Dispose();
    }
}
