namespace GenerateCT.Node;

/// <summary>Facts about the running node that its services read.</summary>
/// <param name="StartedAt">When the host started (uptime).</param>
/// <param name="ServiceConnectionString">Database connection as the node's service role (no UPDATE/DELETE on audit rows).</param>
internal sealed record NodeRuntime(DateTimeOffset StartedAt, string ServiceConnectionString);
