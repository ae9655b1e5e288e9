using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace GenerateCT.Dicom.Network;

/// <summary>
/// A C-ECHO / C-STORE SCP (PS3.4 Annex A, B; PS3.7; PS3.8). Serves many associations at once,
/// optionally over TLS (PS3.15 Annex B), checks the called AE title and the calling AE / source
/// address allow-list (A-ASSOCIATE-RJ with the matching reason), accepts only transfer syntaxes
/// we can decode (so the peer transcodes anything else), and hands each instance to an
/// <see cref="ICStoreHandler"/> before answering.
/// </summary>
public sealed class DicomListener : IAsyncDisposable
{
    private readonly DicomListenerOptions _options;
    private readonly ICStoreHandler _handler;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<Task> _connections = [];
    private readonly SemaphoreSlim _slots;
    private TcpListener? _tcp;
    private Task? _acceptLoop;

    public DicomListener(DicomListenerOptions options, ICStoreHandler handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        _options = options;
        _handler = handler;
        _slots = new SemaphoreSlim(options.MaxAssociations, options.MaxAssociations);
    }

    /// <summary>Raised when an association is accepted, rejected, released, aborted or fails.</summary>
    public event EventHandler<DicomAssociationEventArgs>? AssociationEvent;

    /// <summary>The bound port (useful with <see cref="DicomListenerOptions.Port"/> = 0).</summary>
    public int Port => (_tcp?.LocalEndpoint as IPEndPoint)?.Port ?? throw new InvalidOperationException("the listener is not started");

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _tcp = new TcpListener(_options.BindAddress, _options.Port);
        _tcp.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _tcp.Start(backlog: 128);
        _acceptLoop = AcceptLoopAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        _stopping.Cancel();
        _tcp?.Stop();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        Task[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp!.AcceptTcpClientAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (ct.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            var task = Task.Run(() => ServeAsync(client, ct), CancellationToken.None);
            lock (_connections)
            {
                _connections.Add(task);
            }

            _ = task.ContinueWith(
                t =>
                {
                    lock (_connections)
                    {
                        _connections.Remove(t);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(TcpClient client, CancellationToken stopping)
    {
        var started = Stopwatch.StartNew();
        var remote = (IPEndPoint)client.Client.RemoteEndPoint!;
        bool haveSlot = _slots.Wait(0);
        DicomAssociationInfo? info = null;
        int stored = 0, failed = 0;
        string? calling = null, called = null;
        bool tls = _options.TlsCertificate is not null;
        void Raise(DicomAssociationOutcome outcome, string? detail) => AssociationEvent?.Invoke(this, new DicomAssociationEventArgs
        {
            Outcome = outcome,
            RemoteEndPoint = remote,
            CallingAeTitle = calling,
            CalledAeTitle = called,
            IsTls = tls,
            Association = info,
            InstancesStored = stored,
            InstancesFailed = failed,
            Detail = detail,
            Duration = started.Elapsed,
        });

        using (client)
        {
            client.NoDelay = true;
            Stream stream = client.GetStream();
            DicomConnection? connection = null;
            try
            {
                string? peerSubject = null;
                using var artim = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                artim.CancelAfter(_options.ArtimTimeout);
                if (_options.TlsCertificate is { } cert)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = ssl;
                    await ssl.AuthenticateAsServerAsync(
                        new SslServerAuthenticationOptions
                        {
                            ServerCertificate = cert,
                            ClientCertificateRequired = _options.RequireClientCertificate,
                            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13, // BCP 195 (PS3.15 §B.9)
                            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                            RemoteCertificateValidationCallback = (_, c, _, errors) => DicomTls.ValidatePeer(c, errors, _options.TrustedClientAuthorities, _options.RequireClientCertificate, checkName: false),
                        },
                        artim.Token).ConfigureAwait(false);
                    peerSubject = ssl.RemoteCertificate?.Subject;
                }

                stream = new BufferedStream(stream, 64 * 1024);
                connection = new DicomConnection(stream, _options.MaxPduLength, _options.MaxDatasetBytes);
                using var first = await connection.ReceivePduAsync(artim.Token).ConfigureAwait(false);
                if (first.Type != PduType.AssociateRequest)
                {
                    throw new DicomProtocolViolationException($"expected A-ASSOCIATE-RQ, received {first.Type}", abortReason: 2);
                }

                var rq = AssociationParameters.Decode(first.Body, PduType.AssociateRequest);
                calling = rq.CallingAeTitle;
                called = rq.CalledAeTitle;
                var rejection = Check(rq, remote.Address, haveSlot);
                if (rejection is not null)
                {
                    await connection.SendRejectAsync(rejection, stopping).ConfigureAwait(false);
                    Raise(DicomAssociationOutcome.Rejected, rejection.ToString());
                    return;
                }

                var ac = Negotiate(rq);
                connection.PeerMaxPdu = rq.MaxPduLength;
                info = new DicomAssociationInfo(Guid.NewGuid(), rq.CallingAeTitle, rq.CalledAeTitle, remote, tls, peerSubject, rq.ImplementationClassUid, rq.ImplementationVersionName);
                await connection.SendPduAsync(PduType.AssociateAccept, ac.Encode(PduType.AssociateAccept), stopping).ConfigureAwait(false);
                Raise(DicomAssociationOutcome.Accepted, null);

                var contexts = ac.PresentationContexts.Where(p => p.IsAccepted).ToDictionary(p => p.Id);
                while (true)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    idle.CancelAfter(_options.IdleTimeout);
                    var (message, other) = await connection.ReceiveMessageAsync(idle.Token).ConfigureAwait(false);
                    if (other is not null)
                    {
                        using (other)
                        {
                            if (other.Type == PduType.ReleaseRequest)
                            {
                                await connection.SendPduAsync(PduType.ReleaseResponse, new byte[4], stopping).ConfigureAwait(false);
                                await WaitForCloseAsync(stream).ConfigureAwait(false);
                                Raise(DicomAssociationOutcome.Released, null);
                                return;
                            }

                            if (other.Type == PduType.Abort)
                            {
                                Raise(DicomAssociationOutcome.Aborted, "aborted by the peer");
                                return;
                            }

                            throw new DicomProtocolViolationException($"unexpected {other.Type} PDU during the association", abortReason: 2);
                        }
                    }

                    if (!contexts.TryGetValue(message!.PresentationContextId, out var pc))
                    {
                        throw new DicomProtocolViolationException($"message on presentation context {message.PresentationContextId}, which was not accepted", abortReason: 6);
                    }

                    switch (message.CommandField)
                    {
                        case DimseCommands.CEchoRequest:
                            await connection.SendMessageAsync(new DimseMessage(pc.Id, DimseCommands.Response(message.Command, DimseCommands.CEchoResponse, DicomStatus.Success)), stopping).ConfigureAwait(false);
                            break;
                        case DimseCommands.CStoreRequest:
                            var status = await StoreAsync(info, pc, message, stopping).ConfigureAwait(false);
                            if (status.IsFailure)
                            {
                                failed++;
                            }
                            else
                            {
                                stored++;
                            }

                            await connection.SendMessageAsync(new DimseMessage(pc.Id, DimseCommands.Response(message.Command, DimseCommands.CStoreResponse, status)), stopping).ConfigureAwait(false);
                            break;
                        default:
                            throw new DicomProtocolViolationException($"DIMSE command 0x{message.CommandField:X4} is not supported by this SCP", abortReason: 0);
                    }
                }
            }
            catch (DicomProtocolViolationException ex)
            {
                await TryAbortAsync(connection, ex.AbortReason).ConfigureAwait(false);
                Raise(DicomAssociationOutcome.Aborted, ex.Message);
            }
            catch (DicomConnectionClosedException ex)
            {
                Raise(info is null ? DicomAssociationOutcome.Failed : DicomAssociationOutcome.Aborted, ex.Message);
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                await TryAbortAsync(connection, 0).ConfigureAwait(false);
                Raise(DicomAssociationOutcome.Aborted, info is null ? "ARTIM timer expired before A-ASSOCIATE-RQ" : "idle timeout");
            }
            catch (OperationCanceledException)
            {
                await TryAbortAsync(connection, 0).ConfigureAwait(false);
                Raise(DicomAssociationOutcome.Aborted, "listener stopping");
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or DicomNetworkException or SocketException)
            {
                Raise(DicomAssociationOutcome.Failed, ex is AuthenticationException ? $"TLS handshake failed: {ex.Message}" : ex.Message);
            }
            finally
            {
                if (haveSlot)
                {
                    _slots.Release();
                }

                await stream.DisposeAsync().ConfigureAwait(false);
            }
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
