using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace GenerateCT.Data.Audit;

/// <summary>
/// One row of a host's append-only, hash-chained audit trail (table <c>audit_events</c>, the same in the
/// node's and the coordinator's database; written by <see cref="AuditTrail"/>).
/// </summary>
public sealed class AuditEvent
{
    /// <summary>Position in the chain: 1 for the first row, then dense.</summary>
    public long Id { get; set; }

    public DateTimeOffset OccurredAt { get; set; }

    /// <summary>Who: a user's subject/name, a peer AE title and address, or "system".</summary>
    public string Actor { get; set; } = "";

    /// <summary>What, e.g. "grpc:/generatect.generation.v1.Generation/SubmitCohort", "dicom:association".</summary>
    public string Action { get; set; } = "";

    /// <summary>"success", "denied", "failure".</summary>
    public string Outcome { get; set; } = "";

    /// <summary>JSON details (never PHI).</summary>
    public string? Detail { get; set; }

    /// <summary>Hash of the previous row (32 zero bytes for the first).</summary>
    public byte[] PreviousHash { get; set; } = [];

    /// <summary>SHA-256 over the previous hash and this row's fields (<see cref="AuditChain"/>).</summary>
    public byte[] Hash { get; set; } = [];
}

/// <summary>The EF Core mapping of <c>audit_events</c>, one definition for every context that keeps a trail.</summary>
internal static class AuditEventMapping
{
    public static void MapAuditEvents(this ModelBuilder modelBuilder) => modelBuilder.Entity<AuditEvent>(Map);

    /// <remarks>NodeDb still spells the same mapping inline (its snapshot and migrations predate this method).</remarks>
    private static void Map(EntityTypeBuilder<AuditEvent> e)
    {
        e.ToTable("audit_events");
        e.HasKey(x => x.Id);
        // The sequence number of the chain, assigned under the append lock (dense: 1, 2, 3, …).
        e.Property(x => x.Id).ValueGeneratedNever();
        e.Property(x => x.Actor).HasMaxLength(256).IsRequired();
        e.Property(x => x.Action).HasMaxLength(128).IsRequired();
        e.Property(x => x.Outcome).HasMaxLength(64).IsRequired();
        e.Property(x => x.Detail).HasColumnType("jsonb");
        e.Property(x => x.PreviousHash).IsRequired();
        e.Property(x => x.Hash).IsRequired();
        e.HasIndex(x => x.OccurredAt);
    }
}
