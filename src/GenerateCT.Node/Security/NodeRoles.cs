namespace GenerateCT.Node.Security;

/// <summary>
/// The app roles of the node's app registration (Entra ID "App roles", emitted in the access
/// token's <c>roles</c> claim). Values are case-sensitive and must match the registration.
/// </summary>
public static class NodeRoles
{
    /// <summary>Submits synthetic-CT cohorts and downloads their outputs.</summary>
    public const string Researcher = "Researcher";

    /// <summary>Looks after ingest (series, quarantine, reports) and the training set; approves federated training per stage.</summary>
    public const string DataSteward = "DataSteward";

    /// <summary>Runs the node: status, models, local fine-tuning.</summary>
    public const string Admin = "Admin";

    /// <summary>Reads, verifies and exports the audit trail (and nothing else: separation of duties).</summary>
    public const string Auditor = "Auditor";

    public static IReadOnlyList<string> All { get; } = [Researcher, DataSteward, Admin, Auditor];
}

/// <summary>Authorization policies; every gRPC method names exactly one.</summary>
internal static class NodePolicies
{
    /// <summary>Generation: Researcher.</summary>
    public const string Generate = "generate";

    /// <summary>Node status: Admin, DataSteward or Auditor.</summary>
    public const string Operate = "operate";

    /// <summary>Reading ingest state: DataSteward or Admin.</summary>
    public const string ReadIngest = "read-ingest";

    /// <summary>Changing ingest state (reports) and approving federated training per stage: DataSteward.</summary>
    public const string Steward = "steward";

    /// <summary>Audit trail: Auditor.</summary>
    public const string Audit = "audit";

    /// <summary>Listing models: Admin or Researcher.</summary>
    public const string ReadModels = "read-models";

    /// <summary>Changing models and starting training jobs: Admin.</summary>
    public const string Administer = "administer";

    /// <summary>Reading the training set's counts, stage approvals and training jobs: DataSteward or Admin.</summary>
    public const string ReadTraining = "read-training";

    public static IReadOnlyDictionary<string, string[]> Roles { get; } = new Dictionary<string, string[]>
    {
        [Generate] = [NodeRoles.Researcher],
        [Operate] = [NodeRoles.Admin, NodeRoles.DataSteward, NodeRoles.Auditor],
        [ReadIngest] = [NodeRoles.DataSteward, NodeRoles.Admin],
        [Steward] = [NodeRoles.DataSteward],
        [Audit] = [NodeRoles.Auditor],
        [ReadModels] = [NodeRoles.Admin, NodeRoles.Researcher],
        [Administer] = [NodeRoles.Admin],
        [ReadTraining] = [NodeRoles.DataSteward, NodeRoles.Admin],
    };
}

/// <summary>Marks a gRPC method whose calls are limited per user (Node:RateLimit).</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ExpensiveCallAttribute : Attribute;
