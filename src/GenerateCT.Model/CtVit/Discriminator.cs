using GenerateCT.Model.Attention;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// One residual block of the CT-ViT discriminator: two 3×3 convolutions with LeakyReLU(0.1), an optional
/// space-to-depth 2× downsample followed by a 1×1 convolution (<c>downsample.1</c>), and a strided 1×1
/// residual (<c>conv_res</c>); the sum is scaled by 1/√2 (StyleGAN2-style residual discriminator,
/// Karras et al. 2020, fig. 7).
/// </summary>
internal sealed class DiscriminatorBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_res;
    private readonly Sequential net;
    private readonly Sequential? downsample;

    public DiscriminatorBlock(long inputChannels, long filters, bool downsample = true) : base(nameof(DiscriminatorBlock))
    {
        conv_res = nn.Conv2d(inputChannels, filters, 1, stride: downsample ? 2 : 1);
        net = nn.Sequential(
            ("0", nn.Conv2d(inputChannels, filters, 3, padding: 1)),
            ("1", nn.LeakyReLU(0.1)),
            ("2", nn.Conv2d(filters, filters, 3, padding: 1)),
            ("3", nn.LeakyReLU(0.1)));
        this.downsample = downsample
            ? nn.Sequential(("0", nn.Identity()), ("1", nn.Conv2d(filters * 4, filters, 1)))
            : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var res = conv_res.forward(x);
        var y = net.forward(x);
        if (downsample is not null)
        {
            y = downsample.forward(SpaceToDepth(y));
        }

        return ((y + res) * (1 / Math.Sqrt(2))).MoveToOuterDisposeScope();
    }

    /// <summary>b c (h 2) (w 2) → b (c 2 2) h w.</summary>
    private static Tensor SpaceToDepth(Tensor x)
    {
        long b = x.shape[0], c = x.shape[1], h = x.shape[2] / 2, w = x.shape[3] / 2;
        return x.reshape(b, c, h, 2, w, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h, w);
    }
}

/// <summary>
/// The CT-ViT GAN discriminator on single slices: log2(size) − 1 residual blocks with widths
/// min(4·dim·2^i, 512), a cosine-sim attention block at the 16×16 resolution, then 3×3 conv, LeakyReLU and
/// a linear logit. The reference hard-codes image_size 128; here it is the config's image size (128 for
/// <c>paper</c>), so smaller test configs can train adversarially too.
/// </summary>
internal sealed class Discriminator : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<DiscriminatorBlock> blocks;
    private readonly SparseModuleList attn_blocks;
    private readonly Sequential to_logits;

    public Discriminator(long dim, long imageSize, long channels, long[] attnResLayers, long maxDim = 512) : base(nameof(Discriminator))
    {
        int numLayers = (int)(Math.Log2(imageSize) - 2);
        var layerDims = new List<long> { channels };
        for (int i = 0; i <= numLayers; i++)
        {
            layerDims.Add(Math.Min(dim * 4 * (1L << i), maxDim));
        }

        blocks = new ModuleList<DiscriminatorBlock>();
        attn_blocks = new SparseModuleList();
        long resolution = imageSize;
        for (int i = 0; i < layerDims.Count - 1; i++)
        {
            bool isNotLast = i != layerDims.Count - 2;
            blocks.append(new DiscriminatorBlock(layerDims[i], layerDims[i + 1], isNotLast));
            if (attnResLayers.Contains(resolution))
            {
                attn_blocks.Set(i, new CosineSimAttention(layerDims[i + 1]));
            }

            resolution /= 2;
        }

        long dimLast = layerDims[^1];
        long lastFmap = imageSize / (1L << numLayers);
        to_logits = nn.Sequential(
            ("0", nn.Conv2d(dimLast, dimLast, 3, padding: 1)),
            ("1", nn.LeakyReLU(0.1)),
            ("2", nn.Flatten()),
            ("3", nn.Linear(lastFmap * lastFmap * dimLast, 1)));
        RegisterComponents();
    }

    /// <summary>(b, c, H, W) → logits (b).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var blockList = blocks.ToList();
        for (int i = 0; i < blockList.Count; i++)
        {
            x = blockList[i].forward(x);
            if (attn_blocks.Get(i) is { } attn)
            {
                long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
                var tokens = x.reshape(b, c, h * w).transpose(1, 2); // b n c
                tokens = attn.forward(tokens) + tokens;
                x = tokens.transpose(1, 2).reshape(b, c, h, w);
            }
        }

        return to_logits.forward(x).reshape(-1).MoveToOuterDisposeScope();
    }
}

/// <summary>A ModuleList whose <c>None</c> entries have no keys (e.g. <c>discr.attn_blocks.3</c> only).</summary>
internal sealed class SparseModuleList : nn.Module
{
    private readonly Dictionary<int, CosineSimAttention> _entries = [];

    public SparseModuleList() : base(nameof(SparseModuleList))
    {
    }

    public void Set(int index, CosineSimAttention module)
    {
        _entries[index] = module;
        register_module(index.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
    }

    public CosineSimAttention? Get(int index) => _entries.GetValueOrDefault(index);

    protected override void RegisterComponents()
    {
        // Entries are registered by index in Set.
    }
}
