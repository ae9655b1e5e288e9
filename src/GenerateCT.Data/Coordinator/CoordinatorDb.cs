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

    public DbSet<ModelWeights> ModelWeights => Set<ModelWeights>();

    public DbSet<RoundUpdate> RoundUpdates => Set<RoundUpdate>();

    public DbSet<RoundMetric> RoundMetrics => Set<RoundMetric>();

    public DbSet<ServerOptimizerRecord> ServerOptimizerStates => Set<ServerOptimizerRecord>();

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
            e.Property(x => x.Strategy).HasMaxLength(16).IsRequired();
            e.Property(x => x.FailureReason).HasMaxLength(512);
            e.Property(x => x.StartedBy).HasMaxLength(128).IsRequired();
            e.HasIndex(x => x.State);
        });
        modelBuilder.Entity<ModelVersion>(e =>
        {
            e.ToTable("model_versions");
            e.HasKey(x => x.Id);
            e.Property(x => x.Label).HasMaxLength(128).IsRequired();
            e.Property(x => x.CreatedBy).HasMaxLength(128).IsRequired();
            e.HasMany(x => x.Weights).WithOne().HasForeignKey(w => w.VersionId);
        });
        modelBuilder.Entity<ModelWeights>(e =>
        {
            e.ToTable("model_weights");
            e.HasKey(x => new { x.VersionId, x.Stage });
            e.Property(x => x.Stage).HasMaxLength(32);
            e.Property(x => x.Sha256).HasMaxLength(64).IsRequired();
        });
        modelBuilder.Entity<RoundUpdate>(e =>
        {
            e.ToTable("round_updates");
            e.HasKey(x => new { x.RoundId, x.NodeId });
            e.Property(x => x.NodeId).HasMaxLength(128);
            e.Property(x => x.State).HasMaxLength(16).IsRequired();
            e.Property(x => x.Reason).HasMaxLength(512);
            e.Property(x => x.SpoolPath).HasMaxLength(1024).IsRequired();
            e.Property(x => x.UpdateSha256).HasMaxLength(64);
        });
        modelBuilder.Entity<RoundMetric>(e =>
        {
            e.ToTable("round_metrics");
            e.HasKey(x => new { x.RoundId, x.NodeId, x.Name });
            e.Property(x => x.NodeId).HasMaxLength(128);
            e.Property(x => x.Name).HasMaxLength(64);
        });
        modelBuilder.Entity<ServerOptimizerRecord>(e =>
        {
            e.ToTable("server_optimizer_states");
            e.HasKey(x => x.Stage);
            e.Property(x => x.Stage).HasMaxLength(32);
            e.Property(x => x.Path).HasMaxLength(1024).IsRequired();
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

