using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Data.Node;

/// <summary>
/// The node's database: pseudonymous ingest records and the audit chain. Patient identifiers never
/// reach it (only keyed pseudonyms). Schema changes are EF Core migrations under Node/Migrations,
/// applied at start-up.
/// </summary>
public sealed class NodeDb(DbContextOptions<NodeDb> options) : DbContext(options)
{
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    public DbSet<IngestedSeries> Series => Set<IngestedSeries>();

    public DbSet<QuarantinedInstance> Quarantine => Set<QuarantinedInstance>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<AuditEvent>(e =>
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
        });
        modelBuilder.Entity<IngestedSeries>(e =>
        {
            e.ToTable("series");
            e.HasKey(x => x.Id);
            e.Property(x => x.StudyKey).HasMaxLength(64).IsRequired();
            e.Property(x => x.SeriesKey).HasMaxLength(64).IsRequired();
            e.Property(x => x.State).HasMaxLength(32).IsRequired();
            e.HasIndex(x => x.SeriesKey).IsUnique();
        });
        modelBuilder.Entity<QuarantinedInstance>(e =>
        {
            e.ToTable("quarantine");
            e.HasKey(x => x.Id);
            e.Property(x => x.Reason).HasMaxLength(512).IsRequired();
            e.Property(x => x.SourceAe).HasMaxLength(16).IsRequired();
            e.Property(x => x.FileName).HasMaxLength(256).IsRequired();
            e.HasIndex(x => x.ReceivedAt);
        });
    }
}

/// <summary>One row of the append-only, hash-chained audit trail.</summary>
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

    /// <summary>SHA-256 over the previous hash and this row's fields (see GenerateCT.Data.Audit.AuditChain).</summary>
    public byte[] Hash { get; set; } = [];
}

/// <summary>A de-identified CT series in the node's store (pseudonymous keys only).</summary>
public sealed class IngestedSeries
{
    public Guid Id { get; set; }

    public string StudyKey { get; set; } = "";

    public string SeriesKey { get; set; } = "";

    public int InstanceCount { get; set; }

    /// <summary>"receiving", "assembled", "rejected".</summary>
    public string State { get; set; } = "receiving";

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>An instance the ingest refused (not CT, burned-in annotation, corrupt), kept aside in quarantine/.</summary>
public sealed class QuarantinedInstance
{
    public Guid Id { get; set; }

    /// <summary>Why it was refused, e.g. "Modality MR is not CT".</summary>
    public string Reason { get; set; } = "";

    /// <summary>Calling AE title of the peer that sent it.</summary>
    public string SourceAe { get; set; } = "";

    /// <summary>File name under quarantine/ (no PHI: a random name).</summary>
    public string FileName { get; set; } = "";

    public DateTimeOffset ReceivedAt { get; set; }
}
