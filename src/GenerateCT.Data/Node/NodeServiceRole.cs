namespace GenerateCT.Data.Node;

/// <summary>The node's <see cref="ServiceRole"/>: its services may not alter <c>audit_events</c>.</summary>
public static class NodeServiceRole
{
    /// <summary>Ensures the node's role and its grants exist; returns the connection string the node should use.</summary>
    public static Task<string> EnsureAsync(string ownerConnectionString, string passwordFile, CancellationToken cancellationToken = default) =>
        ServiceRole.EnsureAsync(ownerConnectionString, passwordFile, "node", cancellationToken);

    /// <inheritdoc cref="ServiceRole.RoleName"/>
    public static string RoleName(string database) => ServiceRole.RoleName(database);
}
