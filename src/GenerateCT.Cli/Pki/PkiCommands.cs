using System.CommandLine;
using System.Globalization;
using GenerateCT.Federation.Pki;

namespace GenerateCT.Cli.Pki;

/// <summary>
/// `gct pki init|issue|revoke|list`: the federation's certificate authority and the sites' startup
/// kits (<see cref="FederationCa"/>), run by whoever provisions the federation, on a machine that
/// keeps the CA directory private.
/// </summary>
internal static class PkiCommands
{
    public static Command Create()
    {
        var cmd = new Command("pki", "Federation PKI: create the CA, issue startup kits for nodes, the coordinator and operators, revoke, list.");
        cmd.Subcommands.Add(Init());
        cmd.Subcommands.Add(Issue());
        cmd.Subcommands.Add(Revoke());
        cmd.Subcommands.Add(List());
        return cmd;
    }

    private static Option<DirectoryInfo> CaOption() =>
        new("--ca") { Description = "The CA directory (made by gct pki init).", Required = true };

    private static Command Init()
    {
        var cmd = new Command("init", "Create a federation CA (ECDSA P-256) in a new directory: ca.crt, ca.key (0600), federation.json, crl.pem.");
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory for the CA (created, mode 0700).", Required = true };
        var federation = new Option<string>("--federation") { Description = "The federation's name (letters, digits, '.', '_', '-').", Required = true };
        var years = new Option<int>("--years") { Description = "Years the CA certificate is valid (default 10).", DefaultValueFactory = _ => 10 };
        cmd.Options.Add(output);
        cmd.Options.Add(federation);
        cmd.Options.Add(years);
        cmd.SetAction(parse => Run(() =>
        {
            var ca = FederationCa.Initialize(parse.GetRequiredValue(output).FullName, parse.GetRequiredValue(federation), parse.GetValue(years));
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"federation CA '{ca.Federation}' created in {ca.Directory}");
            o.WriteLine($"  CA certificate SHA-256 {CertificateFingerprint.Sha256(ca.Certificate)} (valid until {ca.Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd})");
            o.WriteLine($"  keep {Path.Combine(ca.Directory, FederationCa.KeyFile)} private; next: gct pki issue --ca {ca.Directory} --coordinator HOSTNAME");
        }));
        return cmd;
    }

    private static Command Issue()
    {
        var cmd = new Command("issue", "Issue a certificate and write the site's startup kit (ca.crt, site.crt, site.key 0600, kit.json).");
        var ca = CaOption();
        var node = new Option<string?>("--node") { Description = "Issue for this node (clientAuth, OU=node)." };
        var coordinator = new Option<string?>("--coordinator") { Description = "Issue for the coordinator at this host name or IP address (serverAuth, OU=coordinator)." };
        var op = new Option<string?>("--operator") { Description = "Issue for this operator (clientAuth, OU=operator)." };
        var days = new Option<int>("--days") { Description = "Days the certificate is valid (default 730).", DefaultValueFactory = _ => 730 };
        var port = new Option<int>("--port") { Description = "With --coordinator: the gRPC port nodes connect to (default 9443).", DefaultValueFactory = _ => FederationCa.DefaultCoordinatorPort };
        var address = new Option<string?>("--coordinator-address") { Description = "The coordinator's https:// address to write into this kit (default: the address recorded when the coordinator was issued)." };
        var kit = new Option<DirectoryInfo?>("--kit") { Description = "Write the kit here instead of CA/kits/NAME." };
        cmd.Options.Add(ca);
        cmd.Options.Add(node);
        cmd.Options.Add(coordinator);
        cmd.Options.Add(op);
        cmd.Options.Add(days);
        cmd.Options.Add(port);
        cmd.Options.Add(address);
        cmd.Options.Add(kit);
        cmd.SetAction(parse => Run(() =>
        {
            var chosen = new (SiteRole Role, string? Name)[] { (SiteRole.Node, parse.GetValue(node)), (SiteRole.Coordinator, parse.GetValue(coordinator)), (SiteRole.Operator, parse.GetValue(op)) }
                .Where(x => x.Name is not null)
                .ToList();
            if (chosen.Count != 1)
            {
                throw new CommandFailure("give exactly one of --node NAME, --coordinator HOSTNAME, --operator NAME");
            }

            var (role, name) = (chosen[0].Role, chosen[0].Name!);
            var coordinatorAddress = parse.GetValue(address);
            if (role == SiteRole.Coordinator && coordinatorAddress is null)
            {
                var host = System.Net.IPAddress.TryParse(name, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{name}]" : name;
                coordinatorAddress = string.Create(CultureInfo.InvariantCulture, $"https://{host}:{parse.GetValue(port)}");
            }

            var authority = FederationCa.Open(parse.GetRequiredValue(ca).FullName);
            var issued = authority.Issue(role, name, parse.GetValue(days), coordinatorAddress, parse.GetValue(kit)?.FullName);
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"issued {role.Name()} '{issued.Name}': serial {issued.Serial}, SHA-256 {issued.Sha256}, valid until {issued.NotAfter:yyyy-MM-dd}");
            o.WriteLine($"  startup kit: {issued.Kit} (hand it to the site over a private channel; site.key is its private key)");
            if (role == SiteRole.Coordinator)
            {
                o.WriteLine($"  nodes will connect to {authority.CoordinatorAddress}; configure Coordinator:Pki:Kit = {issued.Kit}");
            }
        }));
        return cmd;
    }

    private static Command Revoke()
    {
        var cmd = new Command("revoke", "Revoke a certificate and rewrite the revocation list (crl.pem, also in the coordinator's kit here).");
        var ca = CaOption();
        var serial = new Option<string?>("--serial") { Description = "Serial number (hex) of the certificate to revoke." };
        var name = new Option<string?>("--name") { Description = "Revoke every valid certificate of this site name." };
        cmd.Options.Add(ca);
        cmd.Options.Add(serial);
        cmd.Options.Add(name);
        cmd.SetAction(parse => Run(() =>
        {
            var bySerial = parse.GetValue(serial);
            var byName = parse.GetValue(name);
            if ((bySerial is null) == (byName is null))
            {
                throw new CommandFailure("give exactly one of --serial HEX or --name NAME");
            }

            var authority = FederationCa.Open(parse.GetRequiredValue(ca).FullName);
            var revoked = bySerial is not null ? [authority.RevokeSerial(bySerial)] : authority.RevokeName(byName!);
            var o = parse.InvocationConfiguration.Output;
            foreach (var r in revoked)
            {
                o.WriteLine($"revoked {r.Role.Name()} '{r.Name}': serial {r.Serial}");
            }

            o.WriteLine($"  revocation list: {authority.CrlPath} — a coordinator whose Coordinator:Pki:CrlPath is elsewhere needs this file copied there; it applies from the next call");
        }));
        return cmd;
    }

    private static Command List()
    {
        var cmd = new Command("list", "List the certificates the CA issued: serial, role, name, state, expiry, fingerprint.");
        var ca = CaOption();
        cmd.Options.Add(ca);
        cmd.SetAction(parse => Run(() =>
        {
            var authority = FederationCa.Open(parse.GetRequiredValue(ca).FullName);
            var now = DateTimeOffset.UtcNow;
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"federation '{authority.Federation}', coordinator {authority.CoordinatorAddress ?? "(not issued yet)"}");
            o.WriteLine($"{"SERIAL",-34} {"ROLE",-11} {"NAME",-24} {"STATE",-13} {"NOT AFTER",-10} SHA-256");
            foreach (var c in authority.Issued)
            {
                o.WriteLine($"{c.Serial,-34} {c.Role.Name(),-11} {c.Name,-24} {c.StateAt(now),-13} {c.NotAfter.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),-10} {c.Sha256}");
            }
        }));
        return cmd;
    }

    /// <summary>PKI refusals (an existing CA, a name already issued, an unknown serial) are expected failures: one line, exit 2.</summary>
    private static int Run(Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (PkiException e)
        {
            throw new CommandFailure(e.Message, e);
        }
    }
}
