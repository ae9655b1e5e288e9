using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Dicom.Network;

/// <summary>
/// One association served by <see cref="DicomListener"/>, from the accepted TCP connection to its end:
/// TLS handshake (PS3.15 Annex B), association negotiation within the ARTIM timer (PS3.8 §9.3.2-3),
/// the DIMSE message loop (C-ECHO, C-STORE), release or abort, and the event that reports how it ended.
/// </summary>
internal sealed class ScpAssociation
{
    private readonly DicomListenerOptions _options;
    private readonly ICStoreHandler _handler;
    private readonly SemaphoreSlim _slots;
    private readonly Action<DicomAssociationEventArgs> _raise;
    private readonly TcpClient _client;
    private readonly CancellationToken _stopping;
    private readonly Stopwatch _started = Stopwatch.StartNew();
    private readonly IPEndPoint _remote;
    private readonly bool _tls;
    private bool _haveSlot;
    private Stream _stream = Stream.Null;
    private DicomConnection? _connection;
    private DicomAssociationInfo? _info;
    private string? _calling;
    private string? _called;
    private int _stored;
    private int _failed;

    /// <summary>Takes one of the listener's association slots if one is free; without one the association is rejected (local limit exceeded).</summary>
    public ScpAssociation(DicomListenerOptions options, ICStoreHandler handler, SemaphoreSlim slots, Action<DicomAssociationEventArgs> raise, TcpClient client, CancellationToken stopping)
    {
        _options = options;
        _handler = handler;
        _slots = slots;
        _raise = raise;
        _client = client;
        _stopping = stopping;
        _remote = (IPEndPoint)client.Client.RemoteEndPoint!;
        _haveSlot = slots.Wait(0);
        _tls = options.TlsCertificate is not null;
    }

    /// <summary>Serves the association to its end; every ending (including failures) is reported as one event, never thrown.</summary>
    public async Task ServeAsync()
    {
        using (_client)
        {
            _client.NoDelay = true;
            _stream = _client.GetStream();
            try
            {
                var contexts = await AcceptAsync().ConfigureAwait(false);
                if (contexts is not null)
                {
                    await MessageLoopAsync(contexts).ConfigureAwait(false);
                }
            }
            catch (DicomProtocolViolationException ex)
            {
                await AbortAsync(ex.AbortReason, ex.Message).ConfigureAwait(false);
            }
            catch (DicomConnectionClosedException ex)
            {
                Raise(_info is null ? DicomAssociationOutcome.Failed : DicomAssociationOutcome.Aborted, ex.Message);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                await AbortAsync(0, _info is null ? "ARTIM timer expired before A-ASSOCIATE-RQ" : "idle timeout").ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await AbortAsync(0, "listener stopping").ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or DicomNetworkException or SocketException)
            {
                Raise(DicomAssociationOutcome.Failed, ex is AuthenticationException ? $"TLS handshake failed: {ex.Message}" : ex.Message);
            }
            finally
            {
                ReleaseSlot();
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The TLS handshake and the A-ASSOCIATE exchange, both within the ARTIM timer. Returns the accepted
    /// presentation contexts by id, or null when the association was rejected.
    /// </summary>
    private async Task<Dictionary<byte, PresentationContext>?> AcceptAsync()
    {
        using var artim = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        artim.CancelAfter(_options.ArtimTimeout);
        var peerSubject = await HandshakeTlsAsync(artim.Token).ConfigureAwait(false);
        _stream = new BufferedStream(_stream, 64 * 1024);
        _connection = new DicomConnection(_stream, _options.MaxPduLength, _options.MaxDatasetBytes);
        return await NegotiateAsync(_connection, peerSubject, artim.Token).ConfigureAwait(false);
    }

    /// <summary>With a server certificate configured, wraps the transport in TLS; returns the client certificate's subject, if any.</summary>
    private async Task<string?> HandshakeTlsAsync(CancellationToken artim)
    {
        if (_options.TlsCertificate is not { } cert)
        {
            return null;
        }

        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = ssl;
        await ssl.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions
            {
                ServerCertificate = cert,
                ClientCertificateRequired = _options.RequireClientCertificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13, // BCP 195 (PS3.15 §B.9)
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, c, _, errors) => DicomTls.ValidatePeer(c, errors, _options.TrustedClientAuthorities, _options.RequireClientCertificate, checkName: false),
            },
            artim).ConfigureAwait(false);
        return ssl.RemoteCertificate?.Subject;
    }

    /// <summary>Reads the A-ASSOCIATE-RQ and answers it with A-ASSOCIATE-RJ (returns null) or A-ASSOCIATE-AC (returns the accepted contexts).</summary>
    private async Task<Dictionary<byte, PresentationContext>?> NegotiateAsync(DicomConnection connection, string? peerSubject, CancellationToken artim)
    {
        using var first = await connection.ReceivePduAsync(artim).ConfigureAwait(false);
        if (first.Type != PduType.AssociateRequest)
        {
            throw new DicomProtocolViolationException($"expected A-ASSOCIATE-RQ, received {first.Type}", abortReason: 2);
        }

        var rq = AssociationParameters.Decode(first.Body, PduType.AssociateRequest);
        _calling = rq.CallingAeTitle;
        _called = rq.CalledAeTitle;
        var rejection = Check(rq, _remote.Address, _haveSlot);
        if (rejection is not null)
        {
            await connection.SendRejectAsync(rejection, _stopping).ConfigureAwait(false);
            Raise(DicomAssociationOutcome.Rejected, rejection.ToString());
            return null;
        }

        var ac = Negotiate(rq);
        connection.PeerMaxPdu = rq.MaxPduLength;
        _info = new DicomAssociationInfo(Guid.NewGuid(), rq.CallingAeTitle, rq.CalledAeTitle, _remote, _tls, peerSubject, rq.ImplementationClassUid, rq.ImplementationVersionName);
        await connection.SendPduAsync(PduType.AssociateAccept, ac.Encode(PduType.AssociateAccept), _stopping).ConfigureAwait(false);
        Raise(DicomAssociationOutcome.Accepted, null);
        return ac.PresentationContexts.Where(p => p.IsAccepted).ToDictionary(p => p.Id);
    }

    /// <summary>Answers DIMSE requests until the peer releases or aborts the association; each wait is bounded by the idle timeout.</summary>
    private async Task MessageLoopAsync(Dictionary<byte, PresentationContext> contexts)
    {
        var connection = _connection!;
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
            idle.CancelAfter(_options.IdleTimeout);
            var (message, other) = await connection.ReceiveMessageAsync(idle.Token).ConfigureAwait(false);
            if (other is not null)
            {
                using (other)
                {
                    await EndAsync(connection, other).ConfigureAwait(false);
                    return;
                }
            }

            if (!contexts.TryGetValue(message!.PresentationContextId, out var pc))
            {
                throw new DicomProtocolViolationException($"message on presentation context {message.PresentationContextId}, which was not accepted", abortReason: 6);
            }

            await AnswerAsync(connection, pc, message).ConfigureAwait(false);
        }
    }

    /// <summary>A non-data PDU between messages: A-RELEASE-RQ (answered, then the transport closes) or A-ABORT; anything else breaks the protocol.</summary>
    private async Task EndAsync(DicomConnection connection, Pdu pdu)
    {
        if (pdu.Type == PduType.ReleaseRequest)
        {
            await connection.SendPduAsync(PduType.ReleaseResponse, new byte[4], _stopping).ConfigureAwait(false);
            await WaitForCloseAsync(_stream).ConfigureAwait(false);
            Raise(DicomAssociationOutcome.Released, null);
            return;
        }

        if (pdu.Type == PduType.Abort)
        {
            Raise(DicomAssociationOutcome.Aborted, "aborted by the peer");
            return;
        }

        throw new DicomProtocolViolationException($"unexpected {pdu.Type} PDU during the association", abortReason: 2);
    }

    /// <summary>Answers one C-ECHO-RQ or C-STORE-RQ; other commands break the protocol (this SCP serves no others).</summary>
    private async Task AnswerAsync(DicomConnection connection, PresentationContext pc, DimseMessage message)
    {
        switch (message.CommandField)
        {
            case DimseCommands.CEchoRequest:
                await connection.SendMessageAsync(new DimseMessage(pc.Id, DimseCommands.Response(message.Command, DimseCommands.CEchoResponse, DicomStatus.Success)), _stopping).ConfigureAwait(false);
                break;
            case DimseCommands.CStoreRequest:
                var status = await StoreAsync(_info!, pc, message, _stopping).ConfigureAwait(false);
                if (status.IsFailure)
                {
                    _failed++;
                }
                else
                {
                    _stored++;
                }

                await connection.SendMessageAsync(new DimseMessage(pc.Id, DimseCommands.Response(message.Command, DimseCommands.CStoreResponse, status)), _stopping).ConfigureAwait(false);
                break;
            default:
                throw new DicomProtocolViolationException($"DIMSE command 0x{message.CommandField:X4} is not supported by this SCP", abortReason: 0);
        }
    }

    private AssociationRejection? Check(AssociationParameters rq, IPAddress source, bool haveSlot)
    {
        if ((rq.ProtocolVersion & 1) == 0)
        {
            return AssociationRejection.ProtocolVersionNotSupported;
        }

        if (rq.ApplicationContext != DicomUid.ApplicationContext)
        {
            return AssociationRejection.ApplicationContextNotSupported;
        }

        if (!string.Equals(rq.CalledAeTitle, _options.AeTitle, StringComparison.Ordinal))
        {
            return AssociationRejection.CalledAeNotRecognized;
        }

        if (_options.AllowedPeers.Count > 0 && !_options.AllowedPeers.Any(r => r.Matches(rq.CallingAeTitle, source)))
        {
            // PS3.8 has no "address not allowed" reason: a known AE from the wrong address is an unrecognized caller.
            return AssociationRejection.CallingAeNotRecognized;
        }

        return haveSlot ? null : AssociationRejection.LocalLimitExceeded;
    }

    private AssociationParameters Negotiate(AssociationParameters rq)
    {
        var ac = new AssociationParameters
        {
            CalledAeTitle = rq.CalledAeTitle,
            CallingAeTitle = rq.CallingAeTitle,
            MaxPduLength = _options.MaxPduLength,
            AsyncOperations = rq.AsyncOperations is null ? null : ((ushort)1, (ushort)1), // synchronous only (PS3.7 §D.3.3.3)
        };
        foreach (var p in rq.PresentationContexts)
        {
            var pc = new PresentationContext(p.Id, p.AbstractSyntax, p.TransferSyntaxes);
            bool known = p.AbstractSyntax == DicomUid.Verification
                || (_options.AcceptedSopClasses?.Contains(p.AbstractSyntax) ?? p.AbstractSyntax.StartsWith("1.2.840.10008.5.1.4.1.1.", StringComparison.Ordinal));
            if (!known)
            {
                pc.Result = PresentationContextResult.AbstractSyntaxNotSupported;
            }
            else
            {
                // The proposer's order expresses its preference; take its first syntax we can decode.
                var ts = p.TransferSyntaxes.FirstOrDefault(t => DicomTransferSyntax.Lookup(t).CanDecode
                    && (p.AbstractSyntax != DicomUid.Verification || !DicomTransferSyntax.Lookup(t).IsEncapsulated));
                pc.Result = ts is null ? PresentationContextResult.TransferSyntaxesNotSupported : PresentationContextResult.Acceptance;
                pc.AcceptedTransferSyntax = ts;
            }

            ac.PresentationContexts.Add(pc);
        }

        return ac;
    }

    /// <summary>Sends A-ABORT (best effort) and reports the association as aborted.</summary>
    private async Task AbortAsync(byte reason, string detail)
    {
        await TryAbortAsync(_connection, reason).ConfigureAwait(false);
        Raise(DicomAssociationOutcome.Aborted, detail);
    }

    private void Raise(DicomAssociationOutcome outcome, string? detail)
    {
        if (outcome != DicomAssociationOutcome.Accepted)
        {
            ReleaseSlot(); // the association is over: free its slot before anyone hears about it
        }

        _raise(new DicomAssociationEventArgs
        {
            Outcome = outcome,
            RemoteEndPoint = _remote,
            CallingAeTitle = _calling,
            CalledAeTitle = _called,
            IsTls = _tls,
            Association = _info,
            InstancesStored = _stored,
            InstancesFailed = _failed,
            Detail = detail,
            Duration = _started.Elapsed,
        });
    }

    private void ReleaseSlot()
    {
        if (_haveSlot)
        {
            _haveSlot = false;
            _slots.Release();
        }
    }

    private async Task<DicomStatus> StoreAsync(DicomAssociationInfo info, PresentationContext pc, DimseMessage message, CancellationToken ct)
    {
        var sopClass = message.Command.GetUid(DicomTag.AffectedSOPClassUID) ?? string.Empty;
        var sopInstance = message.Command.GetUid(DicomTag.AffectedSOPInstanceUID) ?? string.Empty;
        if (sopClass != pc.AbstractSyntax)
        {
            return DicomStatus.SopClassNotSupported($"SOP class {sopClass} sent on the context negotiated for {pc.AbstractSyntax}");
        }

        if (message.Dataset is not { } bytes)
        {
            return DicomStatus.CannotUnderstand("C-STORE-RQ without a data set");
        }

        var request = new CStoreRequest(info, sopClass, sopInstance, DicomTransferSyntax.Lookup(pc.AcceptedTransferSyntax!), bytes);
        try
        {
            return await _handler.HandleAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The handler failed: the instance is not safe, so the peer must keep it and retry.
            return DicomStatus.OutOfResources($"storage handler failed: {ex.Message}");
        }
    }

    private async Task WaitForCloseAsync(Stream stream)
    {
        // After A-RELEASE-RP the requestor closes the transport; ARTIM bounds the wait (PS3.8 §9.2, state Sta13).
        using var artim = new CancellationTokenSource(_options.ArtimTimeout);
        var buffer = new byte[64];
        try
        {
            while (await stream.ReadAsync(buffer, artim.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
        }
    }

    private static async Task TryAbortAsync(DicomConnection? connection, byte reason)
    {
        if (connection is null)
        {
            return;
        }

        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await connection.SendAbortAsync(source: 2, reason, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException or NotSupportedException)
        {
        }
    }
}
