using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace GenerateCT.Data;

/// <summary>
/// The login role a running host (node or coordinator) uses for its database. Migrations run as the
/// database owner; the host then works as this role, which may read and write its tables but may only
/// INSERT and SELECT rows of <c>audit_events</c>: the service itself cannot rewrite or delete its audit trail.
/// </summary>
/// <remarks>
/// Created and re-granted idempotently at every start, so a new migration's tables are covered.
/// Its password is random, kept in a 0600 file in the host's data directory, and re-applied at each
/// start. The role name carries the database name, because roles are cluster-wide and two
/// databases in one cluster must not share one.
/// </remarks>
public static class ServiceRole
{
    /// <summary>Ensures the role and its grants exist; returns the connection string the host should use.</summary>
    /// <param name="ownerConnectionString">Connection as the database owner (needs CREATEROLE, or superuser).</param>
    /// <param name="passwordFile">Where the role's password is kept (created, mode 0600, if missing).</param>
    /// <param name="host">"node" or "coordinator", for messages.</param>
    public static async Task<string> EnsureAsync(string ownerConnectionString, string passwordFile, string host, CancellationToken cancellationToken = default)
    {
        var owner = new NpgsqlConnectionStringBuilder(ownerConnectionString);
        var database = owner.Database ?? throw new ArgumentException("the owner connection string names no database", nameof(ownerConnectionString));
        var role = RoleName(database);
        var password = await LoadOrCreatePasswordAsync(passwordFile, cancellationToken);

        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(cancellationToken);
        bool exists;
        await using (var probe = new NpgsqlCommand("SELECT 1 FROM pg_roles WHERE rolname = $1", conn))
        {
            probe.Parameters.AddWithValue(role);
            exists = await probe.ExecuteScalarAsync(cancellationToken) is not null;
        }

        var r = Quote(role);
        var sql = new StringBuilder();
        if (!exists)
        {
            sql.AppendLine($"CREATE ROLE {r} LOGIN;");
        }

        // The password is hex (no quotes), so embedding it as a literal is safe; ALTER ROLE takes no parameters.
        sql.AppendLine($"ALTER ROLE {r} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '{password}';");
        sql.AppendLine($"GRANT CONNECT ON DATABASE {Quote(database)} TO {r};");
        sql.AppendLine($"GRANT USAGE ON SCHEMA public TO {r};");
        sql.AppendLine($"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r};");
        sql.AppendLine($"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r};");
        sql.AppendLine($"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_events FROM {r};");
        sql.AppendLine($"REVOKE ALL ON audit_events FROM PUBLIC;");
        sql.AppendLine($"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON \"__EFMigrationsHistory\" FROM {r};");
        await using (var grant = new NpgsqlCommand(sql.ToString(), conn))
        {
            try
            {
                await grant.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new InvalidOperationException(
                    $"the database user '{owner.Username}' may not create or grant the {host}'s service role '{role}' ({e.MessageText}); " +
                    $"give it CREATEROLE and ownership of the {host}'s tables, or create the role as a database administrator", e);
            }
        }

        return new NpgsqlConnectionStringBuilder(ownerConnectionString) { Username = role, Password = password }.ConnectionString;
    }

    /// <summary>"gct_service_" + the database name, lower-case letters, digits and '_' only, at most 63 bytes.</summary>
    public static string RoleName(string database)
    {
        var safe = new string(database.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
        var name = "gct_service_" + safe;
        return name.Length <= 63 ? name : name[..63];
    }

    private static async Task<string> LoadOrCreatePasswordAsync(string path, CancellationToken ct)
    {
        if (File.Exists(path))
        {
            var existing = (await File.ReadAllTextAsync(path, ct)).Trim();
            if (existing.Length >= 32 && existing.All(char.IsAsciiHexDigit))
            {
                return existing;
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        var tmp = path + ".tmp";
        await using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await fs.WriteAsync(Encoding.ASCII.GetBytes(password), ct);
            await fs.FlushAsync(ct);
        }

        File.Move(tmp, path, overwrite: true);
        return password;
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
}
