namespace GenerateCT.Federation.Pki;

/// <summary>
/// What a federation certificate is for. The role is the certificate's subject OU
/// (<c>OU=node</c>, <c>OU=coordinator</c>, <c>OU=operator</c>), so the coordinator reads it from the
/// TLS handshake and never from a message.
/// </summary>
public enum SiteRole
{
    /// <summary>A hospital's node: a TLS client (clientAuth) that enrols and takes part in rounds.</summary>
    Node,

    /// <summary>The federation's coordinator: a TLS server (serverAuth) for its host name.</summary>
    Coordinator,

    /// <summary>A person who runs the federation (starts rounds, reads status): a TLS client (clientAuth).</summary>
    Operator,
}

public static class SiteRoles
{
    /// <summary>The subject OU of <paramref name="role"/>: "node", "coordinator" or "operator".</summary>
    public static string Name(this SiteRole role) => role switch
    {
        SiteRole.Node => "node",
        SiteRole.Coordinator => "coordinator",
        SiteRole.Operator => "operator",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public static bool TryParse(string? value, out SiteRole role)
    {
        switch (value)
        {
            case "node":
                role = SiteRole.Node;
                return true;
            case "coordinator":
                role = SiteRole.Coordinator;
                return true;
            case "operator":
                role = SiteRole.Operator;
                return true;
            default:
                role = default;
                return false;
        }
    }
}
