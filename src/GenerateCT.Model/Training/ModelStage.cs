namespace GenerateCT.Model.Training;

/// <summary>
/// One of the three trained stages of GenerateCT, with the name it carries on the wire, in checkpoints
/// (<see cref="Checkpoints.CheckpointInfo.Stage"/>) and in bundle manifests: <c>ctvit</c>, <c>maskgit</c>,
/// <c>superres</c>. Names are parsed and formatted here and nowhere else.
/// </summary>
public sealed class ModelStage : IEquatable<ModelStage>
{
    /// <summary>Stage 1: the CT-ViT tokenizer (paper §3.1).</summary>
    public static readonly ModelStage CtVit = new("ctvit", "CT-ViT");

    /// <summary>Stage 2: the text-conditioned MaskGIT transformer over CT-ViT tokens (paper §3.2).</summary>
    public static readonly ModelStage MaskGit = new("maskgit", "MaskGIT");

    /// <summary>Stage 3: the slice-wise super-resolution diffusion cascade (paper §3.3).</summary>
    public static readonly ModelStage SuperRes = new("superres", "super-resolution");

    private ModelStage(string name, string displayName)
    {
        Name = name;
        DisplayName = displayName;
    }

    /// <summary>All stages in pipeline order.</summary>
    public static IReadOnlyList<ModelStage> All { get; } = [CtVit, MaskGit, SuperRes];

    /// <summary>The wire and checkpoint name: ctvit, maskgit or superres.</summary>
    public string Name { get; }

    /// <summary>The name for people: CT-ViT, MaskGIT, super-resolution.</summary>
    public string DisplayName { get; }

    /// <summary>The stage named <paramref name="name"/> (exact, lower case), or null.</summary>
    public static ModelStage? Find(string? name) => All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));

    /// <summary>The stage named <paramref name="name"/>; an unknown name is an <see cref="ArgumentException"/> that lists the known ones.</summary>
    public static ModelStage Parse(string name) =>
        Find(name) ?? throw new ArgumentException($"unknown model stage '{name}': use {string.Join(", ", All.Select(s => s.Name))}", nameof(name));

    public static bool TryParse(string? name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ModelStage? stage)
    {
        stage = Find(name);
        return stage is not null;
    }

    /// <summary>True when <paramref name="name"/> is this stage's name.</summary>
    public bool Is(string? name) => string.Equals(Name, name, StringComparison.Ordinal);

    public bool Equals(ModelStage? other) => other is not null && Name == other.Name;

    public override bool Equals(object? obj) => obj is ModelStage other && Equals(other);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);

    public override string ToString() => Name;

    public static bool operator ==(ModelStage? left, ModelStage? right) => left?.Equals(right) ?? right is null;

    public static bool operator !=(ModelStage? left, ModelStage? right) => !(left == right);
}
