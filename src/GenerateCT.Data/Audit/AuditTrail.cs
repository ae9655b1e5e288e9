using System.Runtime.CompilerServices;
using Npgsql;
using NpgsqlTypes;

namespace GenerateCT.Data.Audit;

/// <summary>
/// A host's (node's or coordinator's) tamper-evident audit trail: the append-only table <c>audit_events</c> in which every
/// row's hash covers the previous row's hash and its own fields (<see cref="AuditChain"/>).
/// </summary>
/// <remarks>
/// Appends are serialized by a transaction-scoped advisory lock, so sequence numbers are dense
/// (1, 2, 3, …) and each row links to exactly the row before it even when many requests audit at
/// once. A host's runtime role may only INSERT and SELECT here (<see cref="ServiceRole"/>);
/// anyone who alters or deletes rows with more privileges breaks the chain, and
/// <see cref="VerifyAsync"/> names the first broken row. Deleting the newest rows cannot be seen from
/// the table alone: keep <see cref="AuditVerification.HeadHash"/> (or exports) elsewhere.
/// </remarks>
public sealed class AuditTrail
{
    /// <summary>pg_advisory_xact_lock key that serializes appends ("gctaudit" as ASCII).</summary>
    private const long AppendLock = 0x6763746175646974;

    private const string Columns = "\"Id\", \"OccurredAt\", \"Actor\", \"Action\", \"Outcome\", \"Detail\"::text, \"PreviousHash\", \"Hash\"";

    private readonly Func<NpgsqlConnection> _connect;
    private readonly TimeProvider _clock;

    /// <summary>The trail of a running host, on its data source (the node's service role).</summary>
    public AuditTrail(NpgsqlDataSource dataSource, TimeProvider? clock = null)
    {
        _connect = dataSource.CreateConnection;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>The trail read or written with a connection string (`gct audit`, tests).</summary>
    public AuditTrail(string connectionString, TimeProvider? clock = null)
    {
        _connect = () => new NpgsqlConnection(connectionString);
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>Appends one row and returns it as stored.</summary>
    public async Task<AuditRecord> AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var conn = _connect();
        await conn.OpenAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", conn, tx))
        {
            lockCmd.Parameters.AddWithValue(AppendLock);
            await lockCmd.ExecuteNonQueryAsync(cancellationToken);
        }

        long sequence = 1;
        var previous = AuditChain.Genesis;
        await using (var last = new NpgsqlCommand("SELECT \"Id\", \"Hash\" FROM audit_events ORDER BY \"Id\" DESC LIMIT 1", conn, tx))
        await using (var reader = await last.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                sequence = reader.GetInt64(0) + 1;
                previous = (byte[])reader[1];
            }
        }

        // jsonb stores a normalized form (key order, whitespace): hash the text PostgreSQL will give back.
        string? detail = null;
        if (entry.Detail is not null)
        {
            await using var normalize = new NpgsqlCommand("SELECT $1::jsonb::text", conn, tx);
            normalize.Parameters.AddWithValue(entry.Detail);
            detail = (string?)await normalize.ExecuteScalarAsync(cancellationToken);
        }

        var occurredAt = AuditChain.TruncateToMicroseconds(_clock.GetUtcNow());
        var hash = AuditChain.ComputeHash(previous, sequence, occurredAt, entry.Actor, entry.Action, entry.Outcome, detail);
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO audit_events (\"Id\", \"OccurredAt\", \"Actor\", \"Action\", \"Outcome\", \"Detail\", \"PreviousHash\", \"Hash\") VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
            conn,
            tx))
        {
            insert.Parameters.AddWithValue(sequence);
            insert.Parameters.AddWithValue(occurredAt);
            insert.Parameters.AddWithValue(entry.Actor);
            insert.Parameters.AddWithValue(entry.Action);
            insert.Parameters.AddWithValue(entry.Outcome);
            insert.Parameters.Add(new NpgsqlParameter { Value = (object?)detail ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            insert.Parameters.AddWithValue(previous);
            insert.Parameters.AddWithValue(hash);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return new AuditRecord(sequence, occurredAt, entry.Actor, entry.Action, entry.Outcome, detail, previous, hash);
    }

    /// <summary>Rows with <see cref="AuditRecord.OccurredAt"/> at or after <paramref name="since"/>, oldest first.</summary>
    public async IAsyncEnumerable<AuditRecord> ReadAsync(DateTimeOffset since, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var conn = _connect();
        await conn.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM audit_events WHERE \"OccurredAt\" >= $1 ORDER BY \"Id\"", conn);
        cmd.Parameters.AddWithValue(since.ToUniversalTime());
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return Read(reader);
        }
    }

    /// <summary>Walks the whole chain from row 1 and stops at the first row that fails a check.</summary>
    public async Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken = default)
    {
        await using var conn = _connect();
        await conn.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM audit_events ORDER BY \"Id\"", conn);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        long expected = 1;
        var previous = AuditChain.Genesis;
        long checkedRows = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = Read(reader);
            checkedRows++;
            string? problem = null;
            if (row.Sequence != expected)
            {
                problem = row.Sequence > expected
                    ? (expected == row.Sequence - 1 ? $"row {expected} is missing" : $"rows {expected}–{row.Sequence - 1} are missing") + $" (row {row.Sequence} follows row {expected - 1})"
                    : $"row {row.Sequence} is out of sequence (expected {expected})";
            }
            else if (!row.PreviousHash.AsSpan().SequenceEqual(previous))
            {
                problem = $"row {row.Sequence} does not link to row {expected - 1} (its previous-hash differs from that row's hash)";
            }
            else if (!AuditChain.ComputeHash(row.PreviousHash, row.Sequence, row.OccurredAt, row.Actor, row.Action, row.Outcome, row.Detail).AsSpan().SequenceEqual(row.Hash))
            {
                problem = $"row {row.Sequence} was altered (its contents no longer match its hash)";
            }

            if (problem is not null)
            {
                return new AuditVerification(false, checkedRows, row.Sequence, problem, previous);
            }

            previous = row.Hash;
            expected++;
        }

        return new AuditVerification(true, checkedRows, 0, "", previous);
    }

    private static AuditRecord Read(NpgsqlDataReader reader) => new(
        reader.GetInt64(0),
        new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc)),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        (byte[])reader[6],
        (byte[])reader[7]);
}
