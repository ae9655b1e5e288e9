namespace GenerateCT.Model;

/// <summary>
/// The root of the errors GenerateCT.Model raises itself: a checkpoint, bundle, text encoder or prompt
/// that cannot be used. Each message names the file or input and what to do; callers that only need
/// "the model library refused this" catch this type.
/// </summary>
public abstract class ModelException : Exception
{
    protected ModelException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
