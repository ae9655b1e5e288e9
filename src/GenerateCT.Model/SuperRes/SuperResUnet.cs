using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>
/// The text-conditional super-resolution denoiser of GenerateCT stage 3 (imagen-pytorch <c>Unet</c> as
/// released in GenerateCT's superres_pytorch.py). It predicts v (Salimans &amp; Ho 2022, eq. in App. D)
/// for a noisy high-res image given the nearest-upsampled, noise-augmented low-res image, both time
/// conditions as log-SNR, and T5 text embeddings. State-dict keys equal the released ones.
/// </summary>
public sealed class SuperResUnet : nn.Module
{
    private readonly SuperResUnetConfig _config;

#pragma warning disable IDE1006 // names mirror the reference state_dict keys
    private readonly CrossEmbedLayer init_conv;
    private readonly Sequential to_time_hiddens;
    private readonly Sequential to_time_cond;
    private readonly Sequential to_time_tokens;
    private readonly Sequential to_lowres_time_hiddens;
    private readonly Sequential to_lowres_time_cond;
    private readonly Sequential to_lowres_time_tokens;
    private readonly LayerNorm norm_cond;
    private readonly Linear text_to_cond;
    private readonly PerceiverResampler attn_pool;
    private readonly Parameter null_text_embed;
    private readonly Parameter null_text_hidden;
    private readonly Sequential to_text_non_attn_cond;
    private readonly ResnetBlock init_resnet_block;
    private readonly ModuleList<UnetDownLevel> downs;
    private readonly ModuleList<UnetUpLevel> ups;
    private readonly ResnetBlock mid_block1;
    private readonly ResnetBlock mid_block2;
    private readonly ResnetBlock final_res_block;
    private readonly Conv2d final_conv;
#pragma warning restore IDE1006

    public SuperResUnet(SuperResUnetConfig config) : base(nameof(SuperResUnet))
    {
        _config = config;
        var dim = config.Dim;
        var condDim = config.EffectiveCondDim;
        var timeCondDim = config.TimeCondDim;
        var groups = config.ResnetGroups;
        long heads = config.AttnHeads, dimHead = config.AttnDimHead;

        // x and the low-res conditioning image are concatenated on channels
        init_conv = new CrossEmbedLayer(config.Channels * 2, config.InitCrossEmbedKernelSizes, dim, stride: 1);

        var dims = new List<int> { dim };
        dims.AddRange(config.DimMults.Select(m => dim * m));
        var inOut = dims.Zip(dims.Skip(1)).ToList();

        var sinuIn = config.LearnedSinuPosEmbDim + 1;
        to_time_hiddens = nn.Sequential(new LearnedSinusoidalPosEmb(config.LearnedSinuPosEmbDim), nn.Linear(sinuIn, timeCondDim), nn.SiLU());
        to_time_cond = nn.Sequential(nn.Linear(timeCondDim, timeCondDim));
        to_time_tokens = nn.Sequential(nn.Linear(timeCondDim, condDim * config.NumTimeTokens));
        to_lowres_time_hiddens = nn.Sequential(new LearnedSinusoidalPosEmb(config.LearnedSinuPosEmbDim), nn.Linear(sinuIn, timeCondDim), nn.SiLU());
        to_lowres_time_cond = nn.Sequential(nn.Linear(timeCondDim, timeCondDim));
        to_lowres_time_tokens = nn.Sequential(nn.Linear(timeCondDim, condDim * config.NumTimeTokens));

        norm_cond = nn.LayerNorm(condDim);
        text_to_cond = nn.Linear(config.TextEmbedDim, condDim);
        attn_pool = new PerceiverResampler(condDim, depth: 2, dimHead, heads, config.AttnPoolNumLatents);
        null_text_embed = new Parameter(randn(1, config.MaxTextLen, condDim));
        null_text_hidden = new Parameter(randn(1, timeCondDim));
        to_text_non_attn_cond = nn.Sequential(nn.LayerNorm(condDim), nn.Linear(condDim, timeCondDim), nn.SiLU(), nn.Linear(timeCondDim, timeCondDim));

        init_resnet_block = new ResnetBlock(dim, dim, timeCondDim, groups, useGca: config.UseGlobalContextAttn);

        downs = new ModuleList<UnetDownLevel>();
        ups = new ModuleList<UnetUpLevel>();
        var skipDims = new Stack<int>();
        foreach (var (dimIn, dimOut) in inOut)
        {
            // memory-efficient layout: pre-downsample at every level, including the first
            skipDims.Push(dimOut);
            downs.Add(new UnetDownLevel(dimIn, dimOut, timeCondDim, groups, condDim, dimHead, heads, config.NumResnetBlocks, config.UseGlobalContextAttn));
        }

        var mid = dims[^1];
        foreach (var (dimIn, dimOut) in Enumerable.Reverse(inOut))
        {
            var skip = skipDims.Pop();
            ups.Add(new UnetUpLevel(dimIn, dimOut, skip, timeCondDim, groups, condDim, dimHead, heads, config.NumResnetBlocks, config.UseGlobalContextAttn));
        }

        // the reference builds the mid blocks with ResnetBlock directly, so their cross-attention has the
        // CrossAttention defaults (8 heads of 64) whatever attn_heads / attn_dim_head say
        mid_block1 = new ResnetBlock(mid, mid, timeCondDim, groups, condDim, attnDimHead: 64, attnHeads: 8);
        mid_block2 = new ResnetBlock(mid, mid, timeCondDim, groups, condDim, attnDimHead: 64, attnHeads: 8);

        final_res_block = new ResnetBlock(dim, dim, timeCondDim, groups, useGca: true);
        final_conv = nn.Conv2d(dim + config.Channels, config.Channels, 3, padding: 1);
        using (no_grad())
        {
            final_conv.weight!.zero_();
            final_conv.bias!.zero_();
        }

        RegisterComponents();
    }

    public SuperResUnetConfig Config => _config;

    /// <summary>
    /// One denoiser evaluation.
    /// </summary>
    /// <param name="x">b c H W, the noisy high-res image x_t in [-1, 1] scale</param>
    /// <param name="time">b, log-SNR of t under the cosine schedule (not t itself)</param>
    /// <param name="lowresCondImg">b c H W, the low-res image already resized to H×W, noise-augmented</param>
    /// <param name="lowresNoiseTimes">b, log-SNR of the augmentation time under the linear schedule</param>
    /// <param name="textEmbeds">b n text_embed_dim (T5 last hidden state, padded positions 0)</param>
    /// <param name="textMask">b n, true for real tokens</param>
    /// <param name="condDropProb">classifier-free-guidance dropout: 0 keeps the text, 1 drops it for all</param>
    /// <param name="generator">draws the dropout mask when 0 &lt; condDropProb &lt; 1</param>
    /// <returns>b c H W prediction (v in the released setup)</returns>
    public Tensor forward(Tensor x, Tensor time, Tensor lowresCondImg, Tensor lowresNoiseTimes, Tensor textEmbeds, Tensor textMask,
        double condDropProb = 0, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        if (x.shape[^1] % _config.SizeDivisor != 0 || x.shape[^2] % _config.SizeDivisor != 0)
        {
            throw new ArgumentException($"image sides must be multiples of {_config.SizeDivisor}, got {x.shape[^2]}×{x.shape[^1]}", nameof(x));
        }

        var h = init_conv.forward(cat(new[] { x, lowresCondImg }, 1));   // b dim H W

        // time conditioning: hiddens → FiLM vector t and 2 time tokens; the same for the low-res aug time
        var timeHiddens = to_time_hiddens.forward(time);                  // b tcd
        var timeTokens = to_time_tokens.forward(timeHiddens).view(b, _config.NumTimeTokens, -1);
        var t = to_time_cond.forward(timeHiddens);
        var lowresHiddens = to_lowres_time_hiddens.forward(lowresNoiseTimes);
        var lowresTokens = to_lowres_time_tokens.forward(lowresHiddens).view(b, _config.NumTimeTokens, -1);
        t = t + to_lowres_time_cond.forward(lowresHiddens);
        timeTokens = cat(new[] { timeTokens, lowresTokens }, -2);         // b 4 cond_dim

        // text conditioning
        var keep = KeepMask(b, condDropProb, generator, x.device);       // b
        var textTokens = text_to_cond.forward(textEmbeds);               // b n cond_dim
        var maxLen = _config.MaxTextLen;
        var mask = textMask;
        if (textTokens.shape[1] > maxLen)
        {
            textTokens = textTokens[.., ..maxLen];
            mask = mask[.., ..maxLen];
        }

        var remainder = maxLen - textTokens.shape[1];
        if (remainder > 0)
        {
            textTokens = nn.functional.pad(textTokens, new long[] { 0, 0, 0, remainder });
            mask = nn.functional.pad(mask, new long[] { 0, remainder }, value: 0);
        }

        var keepEmbed = mask.to(ScalarType.Bool).unsqueeze(-1).logical_and(keep.view(b, 1, 1)); // b n 1
        textTokens = where(keepEmbed, textTokens, null_text_embed.to(textTokens.dtype));
        textTokens = attn_pool.forward(textTokens);                      // b (4+latents) cond_dim
        var textHiddens = to_text_non_attn_cond.forward(textTokens.mean(new long[] { -2 }));
        textHiddens = where(keep.view(b, 1), textHiddens, null_text_hidden.to(t.dtype));
        t = t + textHiddens;

        var c = norm_cond.forward(cat(new[] { timeTokens, textTokens }, -2)); // b m cond_dim

        h = init_resnet_block.forward(h, t, null);
        var hiddens = new Stack<Tensor>();
        foreach (var level in downs)
        {
            h = level.Forward(h, t, c, hiddens);
        }

        h = mid_block1.forward(h, t, c);
        h = mid_block2.forward(h, t, c);

        var skipScale = _config.ScaleSkipConnection ? Math.Pow(2, -0.5) : 1.0;
        foreach (var level in ups)
        {
            h = level.Forward(h, t, c, hiddens, skipScale);
        }

        h = final_res_block.forward(h, t, null);
        h = cat(new[] { h, lowresCondImg }, 1);
        return final_conv.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Classifier-free guidance (Ho &amp; Salimans 2022): null + (cond − null) · scale; scale 1 is one
    /// conditional pass, as released inference uses.
    /// </summary>
    public Tensor ForwardWithCondScale(Tensor x, Tensor time, Tensor lowresCondImg, Tensor lowresNoiseTimes, Tensor textEmbeds, Tensor textMask, double condScale)
    {
        using var scope = NewDisposeScope();
        var logits = forward(x, time, lowresCondImg, lowresNoiseTimes, textEmbeds, textMask, 0);
        if (condScale == 1)
        {
            return logits.MoveToOuterDisposeScope();
        }

        var nullLogits = forward(x, time, lowresCondImg, lowresNoiseTimes, textEmbeds, textMask, 1);
        return (nullLogits + (logits - nullLogits) * condScale).MoveToOuterDisposeScope();
    }

    private static Tensor KeepMask(long b, double condDropProb, Generator? generator, Device device)
    {
        if (condDropProb <= 0)
        {
            return ones(b, ScalarType.Bool, device);
        }

        if (condDropProb >= 1)
        {
            return zeros(b, ScalarType.Bool, device);
        }

        return rand(new long[] { b }, generator: generator).lt(1 - condDropProb).to(device);
    }
}

/// <summary>One down level: downs.i.0 pre-downsample, .1 cross-attention ResnetBlock, .2 GCA ResnetBlocks.</summary>
internal sealed class UnetDownLevel : nn.Module
{
    private readonly PixelUnshuffleDownsample _preDownsample;
    private readonly ResnetBlock _initBlock;
    private readonly ModuleList<ResnetBlock> _resnetBlocks;

    public UnetDownLevel(long dimIn, long dimOut, long timeCondDim, long groups, long condDim, long dimHead, long heads, int numResnetBlocks, bool useGca)
        : base(nameof(UnetDownLevel))
    {
        _preDownsample = new PixelUnshuffleDownsample(dimIn, dimOut);
        _initBlock = new ResnetBlock(dimOut, dimOut, timeCondDim, groups, condDim, dimHead, heads);
        _resnetBlocks = new ModuleList<ResnetBlock>();
        for (var i = 0; i < numResnetBlocks; i++)
        {
            _resnetBlocks.Add(new ResnetBlock(dimOut, dimOut, timeCondDim, groups, useGca: useGca));
        }

        // index 3 (Identity, no self-attention) and 4 (no post-downsample) carry no parameters
        register_module("0", _preDownsample);
        register_module("1", _initBlock);
        register_module("2", _resnetBlocks);
    }

    // Registration is by hand (index names); reflection over the C# fields would add a second copy.
    protected override void RegisterComponents()
    {
    }

    public Tensor Forward(Tensor x, Tensor t, Tensor c, Stack<Tensor> hiddens)
    {
        x = _preDownsample.forward(x);
        x = _initBlock.forward(x, t, c);
        foreach (var block in _resnetBlocks)
        {
            x = block.forward(x, t, null);
            hiddens.Push(x);
        }

        hiddens.Push(x); // after the (identity) attention block
        return x;
    }
}

/// <summary>One up level: ups.i.0 cross-attention ResnetBlock, .1 GCA ResnetBlocks, .3 pixel-shuffle upsample.</summary>
internal sealed class UnetUpLevel : nn.Module
{
    private readonly ResnetBlock _initBlock;
    private readonly ModuleList<ResnetBlock> _resnetBlocks;
    private readonly PixelShuffleUpsample _upsample;

    public UnetUpLevel(long dimIn, long dimOut, long skipDim, long timeCondDim, long groups, long condDim, long dimHead, long heads, int numResnetBlocks, bool useGca)
        : base(nameof(UnetUpLevel))
    {
        _initBlock = new ResnetBlock(dimOut + skipDim, dimOut, timeCondDim, groups, condDim, dimHead, heads);
        _resnetBlocks = new ModuleList<ResnetBlock>();
        for (var i = 0; i < numResnetBlocks; i++)
        {
            _resnetBlocks.Add(new ResnetBlock(dimOut + skipDim, dimOut, timeCondDim, groups, useGca: useGca));
        }

        _upsample = new PixelShuffleUpsample(dimOut, dimIn);
        register_module("0", _initBlock);
        register_module("1", _resnetBlocks);
        register_module("3", _upsample); // index 2 is the parameter-free Identity attention block
    }

    // Registration is by hand (index names); reflection over the C# fields would add a second copy.
    protected override void RegisterComponents()
    {
    }

    public Tensor Forward(Tensor x, Tensor t, Tensor c, Stack<Tensor> hiddens, double skipScale)
    {
        x = cat(new[] { x, hiddens.Pop() * skipScale }, 1);
        x = _initBlock.forward(x, t, c);
        foreach (var block in _resnetBlocks)
        {
            x = cat(new[] { x, hiddens.Pop() * skipScale }, 1);
            x = block.forward(x, t, null);
        }

        return _upsample.forward(x);
    }
}
