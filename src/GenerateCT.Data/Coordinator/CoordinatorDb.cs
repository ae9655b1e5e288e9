using Microsoft.EntityFrameworkCore;

namespace GenerateCT.Data.Coordinator;

/// <summary>
/// The coordinator's database: enrolled nodes, training rounds and model versions. It holds no
/// patient data by construction (the Coordinator project cannot reference Dicom/Deid/Imaging).
/// </summary>
public sealed class CoordinatorDb(DbContextOptions<CoordinatorDb> options) : DbContext(options)
{
    public DbSet<EnrolledNode> Nodes => Set<EnrolledNode>();

    public DbSet<TrainingRound> Rounds => Set<TrainingRound>();

    public DbSet<ModelVersion> ModelVersions => Set<ModelVersion>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<EnrolledNode>(e =>
        {
            e.ToTable("nodes");
            e.HasKey(x => x.NodeId);
            e.Property(x => x.NodeId).HasMaxLength(128);
            e.Property(x => x.CertificateThumbprint).HasMaxLength(128).IsRequired();
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
    }
}

public sealed class EnrolledNode
{
    public string NodeId { get; set; } = "";

    public string CertificateThumbprint { get; set; } = "";

    public DateTimeOffset EnrolledAt { get; set; }

    public DateTimeOffset? LastSeenAt { get; set; }
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
