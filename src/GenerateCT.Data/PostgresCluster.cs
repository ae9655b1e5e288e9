using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace GenerateCT.Data;

/// <summary>
/// A private PostgreSQL cluster run from Debian's server binaries: `initdb` into a directory of our
/// own, a port of its own on 127.0.0.1 plus a unix socket, `pg_ctl start`, and `pg_ctl stop` on
/// dispose. It is the node's embedded default database and the database every test runs against.
/// </summary>
/// <remarks>
/// `initdb` and `postgres` refuse to run as root, and appliances and CI run as root: then the server
/// runs as Debian's unprivileged `postgres` user (through `runuser`) in a directory that user owns.
/// The superuser password is random, kept in a 0600 file beside the data, and authentication is
/// scram-sha-256 for socket and TCP alike.
///
/// When the directory's server is already running (another process started it, e.g. the node while
/// `gct audit verify` runs), StartAsync attaches to it: it uses the port and socket recorded in
/// postmaster.pid and leaves the server running on dispose.
/// </remarks>
public sealed class PostgresCluster : IAsyncDisposable
{
    private const string SuperUser = "gct";
    private const string ServiceAccount = "postgres";
    private readonly PostgresClusterOptions _options;
    private readonly string _bin;
    private readonly bool _asServiceAccount;
    private bool _running;
    private bool _attached;

    private PostgresCluster(PostgresClusterOptions options, string bin, bool asServiceAccount)
    {
        _options = options;
        _bin = bin;
        _asServiceAccount = asServiceAccount;
        Directory = Path.GetFullPath(options.Directory);
        DataDirectory = Path.Combine(Directory, "data");
        SocketDirectory = ChooseSocketDirectory(Directory);
    }

    public string Directory { get; }

    public string DataDirectory { get; }

    public string SocketDirectory { get; }

    public int Port { get; private set; }

    /// <summary>True when another process runs this cluster and this instance only connects to it.</summary>
    public bool IsAttached => _attached;

    /// <summary>Npgsql connection string for the cluster's database (over the unix socket).</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>Creates the cluster if it does not exist yet, starts it and waits until it accepts connections.</summary>
    public static async Task<PostgresCluster> StartAsync(PostgresClusterOptions options, CancellationToken cancellationToken = default)
    {
        var bin = options.BinDirectory ?? FindBinDirectory();
        var cluster = new PostgresCluster(options, bin, Environment.IsPrivilegedProcess);
        try
        {
            await cluster.InitializeAndStartAsync(cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Connection string for another database of the same cluster (e.g. "postgres").</summary>
    public string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(ConnectionString) { Database = database }.ConnectionString;

    /// <summary>Stops the server if this instance started it (an attached server is left running).</summary>
    public Task StopAsync() => _running ? ShutdownServerAsync() : Task.CompletedTask;

    /// <summary>
    /// Stops the server of this data directory whether this instance started it or attached to it,
    /// e.g. one left running by a host that was killed.
    /// </summary>
    public async Task ShutdownServerAsync()
    {
        _running = false;
        await RunAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            if (_options.DeleteOnDispose && !_attached)
            {
                TryDelete(Directory);
                if (!SocketDirectory.StartsWith(Directory, StringComparison.Ordinal))
                {
                    TryDelete(SocketDirectory);
                }
            }
        }
    }

    private async Task InitializeAndStartAsync(CancellationToken ct)
    {
        System.IO.Directory.CreateDirectory(Directory);
        System.IO.Directory.CreateDirectory(SocketDirectory);
        var passwordFile = Path.Combine(Directory, "superuser.password");
        if (_asServiceAccount)
        {
            EnsureReachableByServiceAccount(Directory);
        }

        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            await InitializeAsync(passwordFile, ct);
        }

        var password = (await File.ReadAllTextAsync(passwordFile, ct)).Trim();
        if (_asServiceAccount)
        {
            await ChownAsync(SocketDirectory, ct);
        }

        var socketDirectory = SocketDirectory;
        if (RunningServer(DataDirectory) is { } running)
        {
            Port = running.Port;
            socketDirectory = running.SocketDirectory;
            _attached = true;
        }
        else
        {
            Port = _options.Port != 0 ? _options.Port : FreeLoopbackPort();
            var serverOptions = $"-p {Port} -k {SocketDirectory} -c listen_addresses=127.0.0.1";
            await RunAsync(
                "pg_ctl",
                ["-D", DataDirectory, "-l", Path.Combine(Directory, "postgres.log"), "-w", "-t", ((int)_options.StartTimeout.TotalSeconds).ToString(), "-o", serverOptions, "start"],
                ct);
            _running = true;
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = socketDirectory,
            Port = Port,
            Username = SuperUser,
            Password = password,
            Database = "postgres",
            Pooling = true,
        };
        await WaitUntilAcceptingAsync(builder.ConnectionString, ct);
        await EnsureDatabaseAsync(builder.ConnectionString, _options.Database, ct);
        builder.Database = _options.Database;
        ConnectionString = builder.ConnectionString;
    }

    /// <summary>
    /// The server that postmaster.pid says runs this data directory, if its process is alive and is
    /// a postgres process. The file's lines are: pid, data directory, start time, port, socket
    /// directory, listen address, shared memory key, status (PostgreSQL src/include/utils/pidfile.h).
    /// </summary>
    private static (int Port, string SocketDirectory)? RunningServer(string dataDirectory)
    {
        var pidFile = Path.Combine(dataDirectory, "postmaster.pid");
        string[] lines;
        try
        {
            lines = File.ReadAllLines(pidFile);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }

        if (lines.Length < 5 || !int.TryParse(lines[0].Trim(), out var pid) || !int.TryParse(lines[3].Trim(), out var port))
        {
            return null;
        }

        // A stale file after a crash names a dead pid (or one reused by another program): pg_ctl start copes with that.
        string comm;
        try
        {
            comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        if (comm != "postgres" || lines[4].Trim().Length == 0)
        {
            return null;
        }

        return (port, lines[4].Trim());
    }

    private async Task InitializeAsync(string passwordFile, CancellationToken ct)
    {
        // A partially initialised data directory (crash during initdb) is discarded, never reused.
        TryDelete(DataDirectory);
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        await File.WriteAllTextAsync(passwordFile, password, ct);
        File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (_asServiceAccount)
        {
            await ChownAsync(Directory, ct);
        }

        await RunAsync(
            "initdb",
            ["-D", DataDirectory, "-U", SuperUser, "--pwfile", passwordFile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions"],
            ct);
    }

    private static async Task WaitUntilAcceptingAsync(string connectionString, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await using var conn = new NpgsqlConnection(connectionString);
                await conn.OpenAsync(ct);
                return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }
        }
    }

    private static async Task EnsureDatabaseAsync(string adminConnectionString, string database, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(adminConnectionString);
        await conn.OpenAsync(ct);
        await using (var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn))
        {
            exists.Parameters.AddWithValue(database);
            if (await exists.ExecuteScalarAsync(ct) is not null)
            {
                return;
            }
        }

        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database.Replace("\"", "\"\"")}\" ENCODING 'UTF8'", conn);
        await create.ExecuteNonQueryAsync(ct);
    }

    private async Task RunAsync(string tool, IReadOnlyList<string> args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (_asServiceAccount)
        {
            psi.FileName = "runuser";
            foreach (var a in new[] { "-u", ServiceAccount, "--", Path.Combine(_bin, tool) })
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.FileName = Path.Combine(_bin, tool);
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        using var process = Process.Start(psi) ?? throw new PostgresClusterException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            var log = Path.Combine(Directory, "postgres.log");
            var tail = File.Exists(log) ? string.Join('\n', (await File.ReadAllLinesAsync(log, ct)).TakeLast(10)) : "";
            throw new PostgresClusterException(
                $"{tool} exited with {process.ExitCode}: {(await stderr).Trim()} {(await stdout).Trim()}" + (tail.Length > 0 ? $"\nserver log:\n{tail}" : ""));
        }
    }

    private async Task ChownAsync(string path, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("chown") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-R", $"{ServiceAccount}:{ServiceAccount}", path })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = await p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0)
        {
            throw new PostgresClusterException($"chown {path} to {ServiceAccount} failed: {err.Trim()} (is the postgresql package installed?)");
        }
    }

    /// <summary>The service account must be able to walk down to the cluster directory.</summary>
    private static void EnsureReachableByServiceAccount(string directory)
    {
        for (var dir = new DirectoryInfo(directory).Parent; dir is not null; dir = dir.Parent)
        {
            var mode = File.GetUnixFileMode(dir.FullName);
            if ((mode & UnixFileMode.OtherExecute) == 0)
            {
                throw new PostgresClusterException(
                    $"the database runs as the '{ServiceAccount}' user, which cannot enter {dir.FullName} (mode {Convert.ToString((int)mode, 8)}); " +
                    "choose a data directory outside it (e.g. under /var/lib/generatect) or configure a connection string to an existing server");
            }
        }
    }

    private static string ChooseSocketDirectory(string directory)
    {
        // Unix socket paths are limited to 107 bytes: "<dir>/.s.PGSQL.65535" must fit.
        var preferred = Path.Combine(Path.GetFullPath(directory), "run");
        if (preferred.Length + 16 < 100)
        {
            return preferred;
        }

        var hash = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(preferred)))[..12].ToLowerInvariant();
        return Path.Combine("/tmp", "gct-pg-" + hash);
    }

    private static string FindBinDirectory()
    {
        var root = "/usr/lib/postgresql";
        if (System.IO.Directory.Exists(root))
        {
            var best = System.IO.Directory.GetDirectories(root)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .Where(x => x.Version > 0 && File.Exists(Path.Combine(x.Dir, "bin", "initdb")))
                .OrderByDescending(x => x.Version)
                .FirstOrDefault();
            if (best.Dir is not null)
            {
                return Path.Combine(best.Dir, "bin");
            }
        }

        throw new PostgresClusterException("PostgreSQL server binaries not found under /usr/lib/postgresql/N/bin: install the 'postgresql' package (deploy/install-deps.sh does) or configure a connection string");
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (System.IO.Directory.Exists(path))
            {
                System.IO.Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
