namespace GenerateCT.Node;

/// <summary>Facts about the running node that its services read.</summary>
/// <param name="StartedAt">When the host started (uptime).</param>
internal sealed record NodeRuntime(DateTimeOffset StartedAt);
