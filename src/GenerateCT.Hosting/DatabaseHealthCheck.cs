using System.Data.Common;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GenerateCT.Hosting;

/// <summary>Healthy while the host's data source answers a trivial query.</summary>
internal sealed class DatabaseHealthCheck(DbDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy(e.Message, e);
        }
    }
}
