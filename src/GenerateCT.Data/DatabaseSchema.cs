using GenerateCT.Data.Coordinator;
using GenerateCT.Data.Node;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace GenerateCT.Data;

/// <summary>Builds the EF Core contexts on Npgsql and applies their migrations at start-up.</summary>
public static class DatabaseSchema
{
    public static DbContextOptions<T> Options<T>(string connectionString)
        where T : DbContext =>
        new DbContextOptionsBuilder<T>().UseNpgsql(connectionString).Options;

    public static NodeDb CreateNodeDb(string connectionString) => new(Options<NodeDb>(connectionString));

    public static CoordinatorDb CreateCoordinatorDb(string connectionString) => new(Options<CoordinatorDb>(connectionString));

    /// <summary>Applies every pending migration of the node schema.</summary>
    public static async Task MigrateNodeAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using var db = CreateNodeDb(connectionString);
        await db.Database.MigrateAsync(cancellationToken);
    }

    /// <summary>Applies every pending migration of the coordinator schema.</summary>
    public static async Task MigrateCoordinatorAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using var db = CreateCoordinatorDb(connectionString);
        await db.Database.MigrateAsync(cancellationToken);
    }
}

/// <summary>Lets `dotnet ef migrations add` build the contexts without a running server.</summary>
internal sealed class NodeDbDesignFactory : IDesignTimeDbContextFactory<NodeDb>
{
    public NodeDb CreateDbContext(string[] args) => DatabaseSchema.CreateNodeDb("Host=localhost;Database=design");
}

internal sealed class CoordinatorDbDesignFactory : IDesignTimeDbContextFactory<CoordinatorDb>
{
    public CoordinatorDb CreateDbContext(string[] args) => DatabaseSchema.CreateCoordinatorDb("Host=localhost;Database=design");
}
