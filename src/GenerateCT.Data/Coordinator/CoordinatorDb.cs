using GenerateCT.Data.Audit;
using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Data.Coordinator;

/// <summary>
/// The coordinator's database: enrolled nodes, training rounds, model versions and the coordinator's
/// own hash-chained audit trail (<c>audit_events</c>, written by <see cref="AuditTrail"/>). It holds no
/// patient data by construction (the Coordinator project cannot reference Dicom/Deid/Imaging).
/// </summary>
public sealed class CoordinatorDb(DbContextOptions<CoordinatorDb> options) : DbContext(options)
{
    public DbSet<EnrolledNode> Nodes => Set<EnrolledNode>();

    public DbSet<TrainingRound> Rounds => Set<TrainingRound>();

    public DbSet<ModelVersion> ModelVersions => Set<ModelVersion>();

    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<EnrolledNode>(e =>
        {
            e.ToTable("nodes");
            e.HasKey(x => x.NodeId);
            e.Property(x => x.NodeId).HasMaxLength(128);
            e.Property(x => x.CertificateThumbprint).HasMaxLength(128).IsRequired();
            e.Property(x => x.CertificateSerial).HasMaxLength(64).IsRequired();
            e.Property(x => x.SoftwareVersion).HasMaxLength(64).IsRequired();
            e.Property(x => x.Device).HasMaxLength(128).IsRequired();
            e.HasIndex(x => x.CertificateThumbprint).IsUnique();
        });
        modelBuilder.Entity<TrainingRound>(e =>
        {
            e.ToTable("rounds");
            e.HasKey(x => x.Id);
            e.Property(x => x.Stage).HasMaxLength(32).IsRequired();
            e.Property(x => x.State).HasMaxLength(32).IsRequired();
        });
        modelBuilder.Entity<ModelVersion>(e =>
        {
            e.ToTable("model_versions");
            e.HasKey(x => x.Id);
            e.Property(x => x.Stage).HasMaxLength(32).IsRequired();
            e.Property(x => x.Sha256).HasMaxLength(64).IsRequired();
        });
        modelBuilder.MapAuditEvents();
    }
}

/// <summary>A node that enrolled, identified by its client certificate (never by a message field).</summary>
public sealed class EnrolledNode
{
    /// <summary>The certificate's subject CN (the node's name in the federation).</summary>
    public string NodeId { get; set; } = "";

    /// <summary>SHA-256 fingerprint of the certificate it last enrolled with, lower-case hex.</summary>
    public string CertificateThumbprint { get; set; } = "";

    /// <summary>That certificate's serial number, upper-case hex.</summary>
    public string CertificateSerial { get; set; } = "";

    public DateTimeOffset EnrolledAt { get; set; }

    /// <summary>The node's last call (its last contact).</summary>
    public DateTimeOffset? LastSeenAt { get; set; }

    /// <summary>The node's software version as it reported it at its last enrolment.</summary>
    public string SoftwareVersion { get; set; } = "";

    /// <summary>The compute it offers, e.g. "cuda:NVIDIA H100" or "cpu".</summary>
    public string Device { get; set; } = "";

    /// <summary>Number of de-identified training volumes it reported (an integer, nothing more).</summary>
    public long TrainingSamples { get; set; }
}

public sealed class TrainingRound
{
    public long Id { get; set; }

    public string Stage { get; set; } = "";

    public long BaseModelVersion { get; set; }

    /// <summary>"open", "aggregating", "closed", "failed".</summary>
    public string State { get; set; } = "open";

    public DateTimeOffset OpenedAt { get; set; }

    public DateTimeOffset? ClosedAt { get; set; }
}

public sealed class ModelVersion
{
    public long Id { get; set; }

    public string Stage { get; set; } = "";

    public string Sha256 { get; set; } = "";

    public long? FromRound { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
