using GenerateCT.Data.Audit;
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

    public DbSet<StoredInstance> Instances => Set<StoredInstance>();

    public DbSet<QuarantinedInstance> Quarantine => Set<QuarantinedInstance>();

    public DbSet<StoredReport> Reports => Set<StoredReport>();

    public DbSet<TrainingSample> TrainingSamples => Set<TrainingSample>();

    public DbSet<GenerationJob> GenerationJobs => Set<GenerationJob>();

    public DbSet<GenerationOutput> GenerationOutputs => Set<GenerationOutput>();

    public DbSet<StageApproval> StageApprovals => Set<StageApproval>();

    public DbSet<TrainingJob> TrainingJobs => Set<TrainingJob>();

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
            e.Property(x => x.Reason).HasMaxLength(1024);
            e.Property(x => x.AccessionKey).HasMaxLength(64);
            e.HasIndex(x => x.SeriesKey).IsUnique();
            e.HasIndex(x => x.AccessionKey);
        });
        modelBuilder.Entity<StoredInstance>(e =>
        {
            e.ToTable("instances");
            e.HasKey(x => x.SopInstanceKey);
            e.Property(x => x.SopInstanceKey).HasMaxLength(64);
            e.Property(x => x.SeriesKey).HasMaxLength(64).IsRequired();
            e.Property(x => x.Path).HasMaxLength(1024).IsRequired();
            e.HasIndex(x => x.SeriesKey);
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
        modelBuilder.Entity<StoredReport>(e =>
        {
            e.ToTable("reports");
            e.HasKey(x => x.Id);
            e.Property(x => x.AccessionKey).HasMaxLength(64).IsRequired();
            e.Property(x => x.Source).HasMaxLength(32).IsRequired();
            e.HasIndex(x => x.AccessionKey);
        });
        modelBuilder.Entity<TrainingSample>(e =>
        {
            e.ToTable("training_samples");
            e.HasKey(x => x.Id);
            e.Property(x => x.SeriesKey).HasMaxLength(64).IsRequired();
            e.Property(x => x.VolumePath).HasMaxLength(1024).IsRequired();
            e.HasIndex(x => x.SeriesKey).IsUnique();
        });
        modelBuilder.Entity<GenerationJob>(e =>
        {
            e.ToTable("generation_jobs");
            e.HasKey(x => x.Id);
            e.Property(x => x.RequestedBy).HasMaxLength(256).IsRequired();
            e.Property(x => x.State).HasMaxLength(32).IsRequired();
            e.Property(x => x.Prompts).IsRequired();
            e.Property(x => x.Formats).IsRequired();
            e.Property(x => x.Error).HasMaxLength(2048);
            e.HasIndex(x => x.State);
            e.HasIndex(x => new { x.RequestedBy, x.CreatedAt });
            e.HasMany(x => x.Outputs).WithOne().HasForeignKey(o => o.JobId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<GenerationOutput>(e =>
        {
            e.ToTable("generation_outputs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Format).HasMaxLength(16).IsRequired();
            e.Property(x => x.FileName).HasMaxLength(256).IsRequired();
            e.Property(x => x.Sha256).HasMaxLength(64).IsFixedLength().IsRequired();
            e.HasIndex(x => new { x.JobId, x.FileName }).IsUnique();
        });
        modelBuilder.Entity<StageApproval>(e =>
        {
            e.ToTable("stage_approvals");
            e.HasKey(x => x.Stage);
            e.Property(x => x.Stage).HasMaxLength(16);
            e.Property(x => x.ChangedBy).HasMaxLength(256).IsRequired();
        });
        modelBuilder.Entity<TrainingJob>(e =>
        {
            e.ToTable("training_jobs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Origin).HasMaxLength(16).IsRequired();
            e.Property(x => x.RoundKey).HasMaxLength(128);
            e.Property(x => x.Stage).HasMaxLength(16).IsRequired();
            e.Property(x => x.State).HasMaxLength(32).IsRequired();
            e.Property(x => x.RequestedBy).HasMaxLength(256).IsRequired();
            e.Property(x => x.BaseModel).HasMaxLength(128).IsRequired();
            e.Property(x => x.Metrics).HasColumnType("jsonb");
            e.Property(x => x.ResultPath).HasMaxLength(1024);
            e.Property(x => x.ResultSha256).HasMaxLength(64).IsFixedLength();
            e.Property(x => x.Error).HasMaxLength(2048);
            e.HasIndex(x => x.State);
            e.HasIndex(x => x.CreatedAt);
        });
    }
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

    /// <summary>Last instance received (series assembly starts when the series has been idle a while).</summary>
    public DateTimeOffset LastInstanceAt { get; set; }

    /// <summary>Pseudonymous accession number (links the report).</summary>
    public string? AccessionKey { get; set; }

    /// <summary>Why the series was rejected by assembly, if it was.</summary>
    public string? Reason { get; set; }
}

/// <summary>A de-identified instance in the store; the key is its keyed SOP Instance UID, so a re-send is not duplicated.</summary>
public sealed class StoredInstance
{
    public string SopInstanceKey { get; set; } = "";

    public string SeriesKey { get; set; } = "";

    /// <summary>Path of the de-identified Part 10 file, relative to the store.</summary>
    public string Path { get; set; } = "";

    public DateTimeOffset ReceivedAt { get; set; }
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

/// <summary>A scrubbed radiology report with the prompt built from it.</summary>
public sealed class StoredReport
{
    public Guid Id { get; set; }

    /// <summary>Pseudonymous accession number (the same pseudonym the DICOM side gets).</summary>
    public string AccessionKey { get; set; } = "";

    /// <summary>"sr", "hl7", "upload".</summary>
    public string Source { get; set; } = "";

    public string ScrubbedText { get; set; } = "";

    /// <summary>"{age} years old {sex}: {impression}".</summary>
    public string? Prompt { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
}

/// <summary>An assembled, preprocessed volume ready for local training.</summary>
public sealed class TrainingSample
{
    public Guid Id { get; set; }

    public string SeriesKey { get; set; } = "";

    /// <summary>NIfTI of the HU volume, relative to the store.</summary>
    public string VolumePath { get; set; } = "";

    public int Depth { get; set; }

    public int Height { get; set; }

    public int Width { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// A researcher's cohort request: prompts × count volumes from one seed. The worker takes queued jobs in
/// order of creation; only a succeeded job keeps outputs (a failed or cancelled one has its rows and files removed).
/// </summary>
public sealed class GenerationJob : IQueuedJob
{
    public Guid Id { get; set; }

    /// <summary>Who asked: the token's tenant and object ID ("tid/oid", or the issuer subject); only they see the job.</summary>
    public string RequestedBy { get; set; } = "";

    /// <summary>"queued", "running", "succeeded", "failed", "cancelled".</summary>
    public string State { get; set; } = "queued";

    /// <summary>The researcher's prompts (their own words; never patient data).</summary>
    public List<string> Prompts { get; set; } = [];

    /// <summary>Volumes per prompt.</summary>
    public int Count { get; set; }

    /// <summary>Base seed; volume i of the cohort uses a seed derived from it.</summary>
    public long Seed { get; set; }

    /// <summary>Output formats: "nifti", "dicom", "png".</summary>
    public List<string> Formats { get; set; } = [];

    /// <summary>Classifier-free guidance scale the tokens are sampled with.</summary>
    public double CondScale { get; set; }

    /// <summary>Why the job failed (or "cancelled by the requester").</summary>
    public string? Error { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public List<GenerationOutput> Outputs { get; set; } = [];
}

/// <summary>One file a generation job wrote, inserted only once the file is complete and durable.</summary>
public sealed class GenerationOutput
{
    public Guid Id { get; set; }

    public Guid JobId { get; set; }

    /// <summary>Which prompt of the job (0-based).</summary>
    public int PromptIndex { get; set; }

    /// <summary>Which volume of the cohort (0-based, prompts in order, count volumes each); it fixes the volume's seed.</summary>
    public int VolumeIndex { get; set; }

    /// <summary>"nifti", "dicom" (a zip of the series) or "png".</summary>
    public string Format { get; set; } = "";

    /// <summary>File name, relative to the job's output directory.</summary>
    public string FileName { get; set; } = "";

    public long SizeBytes { get; set; }

    /// <summary>Lower-case hex SHA-256 of the file.</summary>
    public string Sha256 { get; set; } = "";
}

/// <summary>
/// Whether the DataSteward lets this node take part in federated training of one stage. No row means not
/// approved; withdrawing keeps the row (approved = false) so the last change and who made it stay visible.
/// </summary>
public sealed class StageApproval
{
    /// <summary>The stage's wire name: ctvit, maskgit or superres.</summary>
    public string Stage { get; set; } = "";

    public bool Approved { get; set; }

    /// <summary>The steward who made the last change (the token's name).</summary>
    public string ChangedBy { get; set; } = "";

    public DateTimeOffset ChangedAt { get; set; }
}

/// <summary>
/// Fine-tuning of one stage on the node's own training set, from the active bundle's weights. Queued jobs run
/// one at a time; a job the node stopped or lost while it ran goes back to the queue and resumes from its last
/// checkpoint. The result (the stage's new weights) is a checkpoint file the row points to.
/// </summary>
public sealed class TrainingJob : IQueuedJob
{
    public Guid Id { get; set; }

    /// <summary>"local" (an Admin started it) or "federated" (a round's local steps).</summary>
    public string Origin { get; set; } = "local";

    /// <summary>The coordinator's round, for a federated job.</summary>
    public string? RoundKey { get; set; }

    /// <summary>ctvit, maskgit or superres.</summary>
    public string Stage { get; set; } = "";

    /// <summary>"queued", "running", "succeeded", "failed".</summary>
    public string State { get; set; } = "queued";

    /// <summary>Who asked (the token's name, or "federation").</summary>
    public string RequestedBy { get; set; } = "";

    /// <summary>Version of the bundle the job starts from (pipeline and digest prefix).</summary>
    public string BaseModel { get; set; } = "";

    /// <summary>Optimizer steps to run.</summary>
    public int Steps { get; set; }

    public double LearningRate { get; set; }

    public int BatchSize { get; set; }

    /// <summary>Seeds the batch draws, masking and noise; resumed steps draw what they would have drawn.</summary>
    public long Seed { get; set; }

    /// <summary>Steps between checkpoints.</summary>
    public int CheckpointEvery { get; set; }

    /// <summary>Steps done at the last durable checkpoint (0: none yet); a resumed job continues from here.</summary>
    public int CheckpointStep { get; set; }

    /// <summary>Steps done (live while running; at least <see cref="CheckpointStep"/>).</summary>
    public int Step { get; set; }

    /// <summary>Local training samples the job draws from (FedAvg's n_k).</summary>
    public int? SampleCount { get; set; }

    /// <summary>JSON object of scalar metrics, each the mean over the steps done ("loss", "learning_rate", the stage's own).</summary>
    public string? Metrics { get; set; }

    /// <summary>The new weights of the stage (a GenerateCT checkpoint), relative to the node's data directory.</summary>
    public string? ResultPath { get; set; }

    /// <summary>Lower-case hex SHA-256 of the result file.</summary>
    public string? ResultSha256 { get; set; }

    /// <summary>Why the job failed.</summary>
    public string? Error { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }
}
