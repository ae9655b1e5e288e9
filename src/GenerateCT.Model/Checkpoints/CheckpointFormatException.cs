namespace GenerateCT.Model.Checkpoints;

/// <summary>The file is not a checkpoint we can read (wrong format, truncated, corrupt).</summary>
public sealed class CheckpointFormatException(string message, Exception? inner = null) : ModelException(message, inner);
