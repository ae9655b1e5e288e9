namespace GenerateCT.Node.Jobs;

/// <summary>The bundle generation runs with was not configured or cannot be loaded; the message says what to do.</summary>
/// <remarks>The root exception type of GenerateCT.Node.</remarks>
internal sealed class GenerationUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
