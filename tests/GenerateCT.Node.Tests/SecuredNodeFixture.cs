namespace GenerateCT.Node.Tests;

/// <summary>One node for the security tests, with a low limit on expensive calls so that tests can reach it.</summary>
public sealed class SecuredNodeFixture() : NodeFixture("gct-node-sec")
{
    public const int ExpensiveCallsPerMinute = 2;

    protected override Dictionary<string, string?> Configuration() => new()
    {
        ["Node:RateLimit:ExpensiveCallsPerMinute"] = ExpensiveCallsPerMinute.ToString(),
    };
}

[CollectionDefinition(Name)]
public sealed class SecuredNodeCollection : ICollectionFixture<SecuredNodeFixture>
{
    public const string Name = "secured node";
}
