namespace GenerateCT.Model.Pipeline;

/// <summary>A bundle that cannot be used; the message names the file and what to do.</summary>
public sealed class ModelBundleException(string message, Exception? inner = null) : ModelException(message, inner);
