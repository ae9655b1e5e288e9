namespace GenerateCT.Model.Text;

/// <summary>
/// A text-encoder bundle that is missing a file or holds one that cannot be used: a start-up
/// configuration error (the message names the file and what to install).
/// </summary>
public sealed class TextEncoderBundleException(string message, Exception? inner = null) : ModelException(message, inner);
