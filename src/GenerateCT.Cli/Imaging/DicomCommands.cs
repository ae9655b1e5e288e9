using System.CommandLine;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using GenerateCT.Dicom;
using GenerateCT.Dicom.Network;
using Spectre.Console;

namespace GenerateCT.Cli.Imaging;

/// <summary>`gct dicom echo|store|listen|dump`: connectivity checks for hospital IT, on our own DICOM stack.</summary>
internal static class DicomCommands
{
    public static Command Create()
    {
        var cmd = new Command("dicom", "DICOM connectivity: C-ECHO, C-STORE (SCU), a standalone C-STORE SCP, and a file dump.");
        cmd.Subcommands.Add(Echo());
        cmd.Subcommands.Add(Store());
        cmd.Subcommands.Add(Listen());
        cmd.Subcommands.Add(Dump());
        return cmd;
    }

    private sealed record TlsOptions(Option<bool> Tls, Option<FileInfo?> Cert, Option<FileInfo?> Key, Option<FileInfo?> Ca);

    private static TlsOptions AddTls(Command cmd, bool server)
    {
        var t = new TlsOptions(
            new Option<bool>("--tls") { Description = "Use DICOM TLS (PS3.15 Annex B, TLS 1.2+)." },
            new Option<FileInfo?>("--tls-cert") { Description = server ? "Server certificate (PEM)." : "Client certificate (PEM), if the SCP requires one." },
            new Option<FileInfo?>("--tls-key") { Description = "Private key of --tls-cert (PEM, unencrypted PKCS#8 or PKCS#1)." },
            new Option<FileInfo?>("--tls-ca") { Description = server ? "CA certificate(s) (PEM) trusted for client certificates; clients must present one." : "CA certificate(s) (PEM) trusted for the server certificate (default: system store)." });
        cmd.Options.Add(t.Tls);
        cmd.Options.Add(t.Cert);
        cmd.Options.Add(t.Key);
        cmd.Options.Add(t.Ca);
        return t;
    }

    private static X509Certificate2? LoadCertificate(FileInfo? cert, FileInfo? key)
    {
        if (cert is null)
        {
            return null;
        }

        using var pem = X509Certificate2.CreateFromPemFile(cert.FullName, key?.FullName);

        // PKCS#12 round trip gives SslStream a persisted key handle on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12, string.Empty), string.Empty);
    }

    private static X509Certificate2Collection LoadCas(FileInfo? ca)
    {
        var c = new X509Certificate2Collection();
        if (ca is not null)
        {
            c.ImportFromPemFile(ca.FullName);
        }

        return c;
    }

    private static (Option<string> Host, Option<int> Port, Option<string> Aet, Option<string> Calling) AddPeer(Command cmd)
    {
        var host = new Option<string>("--host") { Description = "SCP host name or address.", Required = true };
        var port = new Option<int>("--port") { Description = "SCP port.", Required = true };
        var aet = new Option<string>("--aet") { Description = "Called AE title (the SCP's).", Required = true };
        var calling = new Option<string>("--calling-aet") { Description = "Our (calling) AE title.", DefaultValueFactory = _ => "GENERATECT" };
        cmd.Options.Add(host);
        cmd.Options.Add(port);
        cmd.Options.Add(aet);
        cmd.Options.Add(calling);
        return (host, port, aet, calling);
    }

    private static DicomClientOptions ClientOptions(ParseResult p, (Option<string> Host, Option<int> Port, Option<string> Aet, Option<string> Calling) peer, TlsOptions tls)
    {
        var o = new DicomClientOptions
        {
            Host = p.GetValue(peer.Host)!,
            Port = p.GetValue(peer.Port),
            CalledAeTitle = p.GetValue(peer.Aet)!,
            CallingAeTitle = p.GetValue(peer.Calling)!,
        };
        if (p.GetValue(tls.Tls))
        {
            o.Tls = new DicomClientTlsOptions { ClientCertificate = LoadCertificate(p.GetValue(tls.Cert), p.GetValue(tls.Key)) };
            o.Tls.TrustedServerAuthorities.AddRange(LoadCas(p.GetValue(tls.Ca)));
        }

        return o;
    }

    private static Command Echo()
    {
        var cmd = new Command("echo", "Send a C-ECHO (verification) to an SCP and report the result.");
        var peer = AddPeer(cmd);
        var tls = AddTls(cmd, server: false);
        cmd.SetAction(async (p, ct) =>
        {
            var options = ClientOptions(p, peer, tls);
            var started = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                await using var client = await DicomClient.ConnectAsync(options, [], ct);
                var status = await client.EchoAsync(ct);
                Console.WriteLine($"C-ECHO {options.CallingAeTitle} -> {options.CalledAeTitle}@{options.Host}:{options.Port}{(options.Tls is null ? string.Empty : " (TLS)")}: status {status}, {started.ElapsedMilliseconds} ms, peer implementation {client.PeerImplementationClassUid} {client.PeerImplementationVersionName}");
                return status.IsSuccess ? 0 : 1;
            }
            catch (DicomNetworkException ex)
            {
                throw new CommandFailure($"C-ECHO failed: {ex.Message}", ex);
            }
        });
        return cmd;
    }

    private static Command Store()
    {
        var cmd = new Command("store", "Send DICOM files (and directories, recursively) to an SCP with C-STORE.");
        var peer = AddPeer(cmd);
        var tls = AddTls(cmd, server: false);
        var paths = new Argument<string[]>("paths") { Description = "Files or directories.", Arity = ArgumentArity.OneOrMore };
        cmd.Arguments.Add(paths);
        cmd.SetAction(async (p, ct) =>
        {
            var options = ClientOptions(p, peer, tls);
            var files = p.GetValue(paths)!.SelectMany(x => Directory.Exists(x) ? Directory.EnumerateFiles(x, "*", SearchOption.AllDirectories) : [x]).Order(StringComparer.Ordinal).ToList();

            // First pass: what SOP classes and syntaxes to propose (files are re-read when sent).
            var readable = new List<(string Path, string SopClass, DicomTransferSyntax Syntax)>();
            int failed = 0;
            foreach (var f in files)
            {
                try
                {
                    var file = await DicomFile.OpenAsync(f, ct);
                    readable.Add((f, file.Dataset.GetUid(DicomTag.SOPClassUID) ?? string.Empty, file.TransferSyntax));
                }
                catch (Exception ex) when (ex is DicomParseException or DicomNotSupportedException or IOException)
                {
                    Console.Error.WriteLine($"skipped {f}: {ex.Message}");
                    failed++;
                }
            }

            if (readable.Count == 0)
            {
                throw new CommandFailure("no DICOM files to send");
            }

            var contexts = readable.Select(r => (r.SopClass, r.Syntax)).Distinct()
                .Select(c => (c.SopClass, DicomClient.ProposedSyntaxes(c.Syntax)));
            int sent = 0;
            try
            {
                await using var client = await DicomClient.ConnectAsync(options, contexts, ct);
                await AnsiConsole.Progress().StartAsync(async ctx =>
                {
                    var task = ctx.AddTask($"C-STORE to {options.CalledAeTitle}", maxValue: readable.Count);
                    foreach (var r in readable)
                    {
                        DicomStatus status;
                        try
                        {
                            status = await client.StoreAsync(await DicomFile.OpenAsync(r.Path, ct), ct);
                        }
                        catch (DicomNotSupportedException ex)
                        {
                            status = new DicomStatus(0xFFFF, ex.Message); // not sent: the SCP does not accept a syntax we can produce
                        }

                        if (status.IsFailure)
                        {
                            failed++;
                            AnsiConsole.MarkupLineInterpolated($"[red]{r.Path}: {(status.Code == 0xFFFF ? "not sent: " + status.ErrorComment : status.ToString())}[/]");
                        }
                        else
                        {
                            sent++;
                        }

                        task.Increment(1);
                    }
                });
            }
            catch (DicomNetworkException ex)
            {
                throw new CommandFailure($"C-STORE failed: {ex.Message}", ex);
            }

            Console.WriteLine($"stored {sent} instance(s), {failed} failed");
            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }

    private static Command Listen()
    {
        var cmd = new Command("listen", "Run a standalone C-STORE SCP writing received instances as {SOPInstanceUID}.dcm (refused ones to OUT/quarantine).");
        var port = new Option<int>("--port") { Description = "TCP port to listen on.", DefaultValueFactory = _ => 11112 };
        var aet = new Option<string>("--aet") { Description = "Our AE title.", DefaultValueFactory = _ => "GENERATECT" };
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory for received instances.", Required = true };
        var bind = new Option<string>("--bind") { Description = "Address to bind (default 0.0.0.0).", DefaultValueFactory = _ => "0.0.0.0" };
        var allow = new Option<string[]>("--allow") { Description = "Allowed caller AE@address or AE@cidr (repeatable; '*' wildcards). Without it anyone may store.", AllowMultipleArgumentsPerToken = true };
        cmd.Options.Add(port);
        cmd.Options.Add(aet);
        cmd.Options.Add(output);
        cmd.Options.Add(bind);
        cmd.Options.Add(allow);
        var tls = AddTls(cmd, server: true);
        cmd.SetAction(async (p, ct) =>
        {
            var outDir = p.GetValue(output)!.FullName;
            var options = new DicomListenerOptions { AeTitle = p.GetValue(aet)!, Port = p.GetValue(port), BindAddress = IPAddress.Parse(p.GetValue(bind)!) };
            foreach (var rule in p.GetValue(allow) ?? [])
            {
                options.AllowedPeers.Add(DicomPeerRule.Parse(rule));
            }

            if (p.GetValue(tls.Tls))
            {
                options.TlsCertificate = LoadCertificate(p.GetValue(tls.Cert), p.GetValue(tls.Key))
                    ?? throw new ArgumentException("--tls needs --tls-cert and --tls-key");
                var cas = LoadCas(p.GetValue(tls.Ca));
                options.RequireClientCertificate = cas.Count > 0;
                options.TrustedClientAuthorities.AddRange(cas);
            }

            var store = new DurableFileStore(new DurableFileStoreOptions { IncomingDirectory = outDir, QuarantineDirectory = Path.Combine(outDir, "quarantine") });
            store.Quarantined += (_, q) => Console.WriteLine($"quarantined {q.SopInstanceUid} from {q.Association.CallingAeTitle}: {q.Reason}");
            await using var listener = new DicomListener(options, store);
            listener.AssociationEvent += (_, e) => Console.WriteLine(
                $"{DateTime.UtcNow:O} {e.Outcome} {e.CallingAeTitle ?? "?"}@{e.RemoteEndPoint} -> {e.CalledAeTitle ?? "?"}{(e.IsTls ? " TLS" : string.Empty)} stored={e.InstancesStored} failed={e.InstancesFailed}{(e.Detail is null ? string.Empty : " : " + e.Detail)}");
            await listener.StartAsync(ct);
            Console.WriteLine($"listening as {options.AeTitle} on {options.BindAddress}:{listener.Port}{(options.TlsCertificate is null ? string.Empty : " (TLS)")}, writing to {outDir}; Ctrl+C stops");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }

            await listener.StopAsync();
            return 0;
        });
        return cmd;
    }

    private static Command Dump()
    {
        var cmd = new Command("dump", "Print a DICOM file's meta header and data set (like dcmdump), using our reader.");
        var file = new Argument<FileInfo>("file") { Description = "A DICOM Part 10 file." };
        cmd.Arguments.Add(file);
        cmd.SetAction(async (p, ct) =>
        {
            var f = await DicomFile.OpenAsync(p.GetValue(file)!.FullName, ct);
            Console.Write(DicomDump.Format(f));
            return 0;
        });
        return cmd;
    }
}
