namespace GenerateCT.Data.Node;

/// <summary>What a node job table row has that its queue needs: identity, state and when it was queued and started.</summary>
public interface IQueuedJob
{
    Guid Id { get; }

    string State { get; set; }

    DateTimeOffset CreatedAt { get; }

    DateTimeOffset? StartedAt { get; set; }
}
