using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Attention;

/// <summary>
/// The reference feed-forward block, a Sequential whose state-dict indices are kept:
/// <c>0</c> nn.LayerNorm(dim) → <c>1</c> Linear(dim, 2·inner, no bias) → <c>2</c> GEGLU → <c>3</c> Dropout
/// → <c>4</c> Linear(inner, dim, no bias), with inner = int(mult · 2/3 · dim) (1365 for dim 512, mult 4).
/// </summary>
internal sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Sequential _net;

    public FeedForward(long dim, double mult = 4, double dropout = 0) : base(nameof(FeedForward))
    {
        InnerDim = InnerDimension(dim, mult);
        _net = nn.Sequential(
            ("0", nn.LayerNorm(dim)),
            ("1", nn.Linear(dim, InnerDim * 2, hasBias: false)),
            ("2", new Geglu()),
            ("3", nn.Dropout(dropout)),
            ("4", nn.Linear(InnerDim, dim, hasBias: false)));
        foreach (var (name, module) in _net.named_children())
        {
            register_module(name, module);
        }
    }

    public long InnerDim { get; }

    /// <summary>int(mult · (2/3) · dim), computed in double precision as Python does.</summary>
    public static long InnerDimension(long dim, double mult) => (long)(mult * (2.0 / 3.0) * dim);

    public override Tensor forward(Tensor x) => _net.forward(x);

    protected override void RegisterComponents()
    {
        // Children are registered under the Sequential indices of the reference ("0".."4").
    }
}
