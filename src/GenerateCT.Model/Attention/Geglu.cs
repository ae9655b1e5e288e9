using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>
/// GEGLU (Shazeer 2020, "GLU Variants Improve Transformer"): splits the last dimension into
/// (x, gate), first half then second half, and returns <c>gelu(gate) · x</c> with the exact erf GELU.
/// </summary>
internal sealed class Geglu : nn.Module<Tensor, Tensor>
{
    public Geglu() : base(nameof(Geglu))
    {
    }

    public override Tensor forward(Tensor input)
    {
        var halves = input.chunk(2, -1);
        return nn.functional.gelu(halves[1]) * halves[0];
    }
}
