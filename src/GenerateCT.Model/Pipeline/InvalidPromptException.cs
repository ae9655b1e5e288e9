namespace GenerateCT.Model.Pipeline;

/// <summary>
/// A prompt the generator refuses. The message says why and what to change; the node's generation
/// service maps this type to gRPC InvalidArgument.
/// </summary>
public sealed class InvalidPromptException(PromptProblem problem, int promptIndex, string message)
    : ModelException(message)
{
    public PromptProblem Problem { get; } = problem;

    /// <summary>Position of the offending prompt in the request.</summary>
    public int PromptIndex { get; } = promptIndex;
}
