using GenerateCT.Model.Attention;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>Output of a full CT-ViT pass: reconstruction, codebook indices, losses.</summary>
public sealed record CtVitOutput(Tensor Reconstruction, Tensor Indices, Tensor CommitLoss, Tensor ReconstructionLoss) : IDisposable
{
    public void Dispose()
    {
        Reconstruction.Dispose();
        Indices.Dispose();
        CommitLoss.Dispose();
        ReconstructionLoss.Dispose();
    }
}

/// <summary>
/// CT-ViT (paper §3.2; reference ctvit.py <c>CTViT</c>): the 3-D CT tokenizer. A volume
/// (b, 1, 1 + 2k, H, W) in [-1, 1] is cut into a first-slice patch row and 2×p×p tubelets, embedded,
/// run through a spatial transformer (within a slice group, continuous position bias) and a temporal
/// transformer (across groups), vector-quantised by cosine similarity into an EMA codebook and decoded
/// by the mirror image (temporal first, then spatial) back to voxels. 201×128×128 gives 101×8×8 tokens.
/// Submodule names and nesting are the reference's, so its state dicts load by name.
/// </summary>
public sealed class CtVit : nn.Module
{
    private readonly ContinuousPositionBias spatial_rel_pos_bias;
    private readonly PatchEmbedding to_patch_emb_first_frame;
    private readonly PatchEmbedding to_patch_emb;
    private readonly Transformer enc_spatial_transformer;
    private readonly Transformer enc_temporal_transformer;
    private readonly VectorQuantize vq;
    private readonly Transformer dec_spatial_transformer;
    private readonly Transformer dec_temporal_transformer;
    private readonly PixelProjection to_pixels_first_frame;
    private readonly PixelProjection to_pixels;
    private readonly Vgg16? vgg;
    private readonly Discriminator? discr;

    public CtVit(CtVitConfig config) : base(nameof(CtVit))
    {
        Config = config;
        if (config.ImageSize % config.PatchSize != 0)
        {
            throw new ArgumentException($"image size {config.ImageSize} is not a multiple of the patch size {config.PatchSize}", nameof(config));
        }

        spatial_rel_pos_bias = new ContinuousPositionBias(config.Dim, config.Heads);
        to_patch_emb_first_frame = new PatchEmbedding(config.Channels, config.PatchSize, 1, config.Dim);
        to_patch_emb = new PatchEmbedding(config.Channels, config.PatchSize, config.TemporalPatchSize, config.Dim);

        TransformerOptions Options(int depth, bool causal) => new()
        {
            Dim = config.Dim,
            Depth = depth,
            DimHead = config.DimHead,
            Heads = config.Heads,
            AttnDropout = config.AttnDropout,
            FfDropout = config.FfDropout,
            Peg = true,
            PegCausal = true,
            Causal = causal,
        };

        enc_spatial_transformer = new Transformer(Options(config.SpatialDepth, false));
        enc_temporal_transformer = new Transformer(Options(config.TemporalDepth, config.CausalTemporal));
        vq = new VectorQuantize(config.Dim, config.CodebookSize);
        dec_spatial_transformer = new Transformer(Options(config.SpatialDepth, false));
        dec_temporal_transformer = new Transformer(Options(config.TemporalDepth, config.CausalTemporal));
        to_pixels_first_frame = new PixelProjection(config.Channels, config.PatchSize, 1, config.Dim);
        to_pixels = new PixelProjection(config.Channels, config.PatchSize, config.TemporalPatchSize, config.Dim);

        if (config.UseVggAndGan)
        {
            vgg = new Vgg16();
            discr = new Discriminator(config.DiscrBaseDim, config.ImageSize, config.Channels, config.DiscrAttnResLayers);
        }

        RegisterComponents();
    }

    public CtVitConfig Config { get; }

    internal VectorQuantize Quantizer => vq;

    /// <summary>The frozen perceptual network, or null when the config has no VGG/GAN.</summary>
    internal Vgg16? Vgg => vgg;

    /// <summary>The GAN discriminator, or null when the config has no VGG/GAN.</summary>
    internal Discriminator? Discr => discr;

    /// <summary>The last decoder layer's weight (used to balance the adversarial loss).</summary>
    internal TorchSharp.Modules.Parameter LastDecoderWeight => to_pixels.Projection.weight!;

    private PegLayout TemporalPegLayout => Config.CausalTemporal ? PegLayout.SpatialMajor : PegLayout.MemoryOrder;

    /// <summary>Parameters of the autoencoder path (everything but vgg.* and discr.*).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> AutoencoderParameters() =>
        named_parameters().Where(p => !IsLossNetworkKey(p.name)).Select(p => p.parameter);

    /// <summary>True for state-dict keys of the training-only loss networks (vgg.*, discr.*).</summary>
    public static bool IsLossNetworkKey(string key) =>
        key.StartsWith("vgg.", StringComparison.Ordinal) || key.StartsWith("discr.", StringComparison.Ordinal);

    /// <summary>Patch embedding: video (b, c, 1 + pt·k, H, W) → tokens (b, 1 + k, h, w, d).</summary>
    public Tensor EmbedPatches(Tensor video, Action<string, Tensor>? trace = null)
    {
        ValidateVideo(video);
        using var scope = NewDisposeScope();
        var first = to_patch_emb_first_frame.forward(video.narrow(2, 0, 1));
        trace?.Invoke("patch_emb_first_frame", first);
        var tokens = first;
        if (video.shape[2] > 1)
        {
            var rest = to_patch_emb.forward(video.narrow(2, 1, video.shape[2] - 1));
            trace?.Invoke("patch_emb_rest", rest);
            tokens = cat([first, rest], 1);
        }

        return tokens.MoveToOuterDisposeScope();
    }

    /// <summary>Encoder transformers: tokens (b, t, h, w, d) → (b, t, h, w, d) before quantisation.</summary>
    public Tensor Encode(Tensor tokens, Action<string, Tensor>? trace = null)
    {
        using var scope = NewDisposeScope();
        long b = tokens.shape[0], t = tokens.shape[1], h = tokens.shape[2], w = tokens.shape[3], d = tokens.shape[4];
        var shape = (b, t, h, w);
        var bias = spatial_rel_pos_bias.forward(tokens.device, h, w);        // heads (h w) (h w)
        trace?.Invoke("spatial_attn_bias", bias);

        var x = tokens.reshape(b * t, h * w, d);                                 // (b t) (h w) d
        x = enc_spatial_transformer.forward(x, shape, attnBias: bias);
        trace?.Invoke("enc_spatial", x);

        x = x.reshape(b, t, h, w, d).permute(0, 2, 3, 1, 4).reshape(b * h * w, t, d); // (b h w) t d
        x = enc_temporal_transformer.forward(x, shape, pegLayout: TemporalPegLayout);
        trace?.Invoke("enc_temporal", x);

        return x.reshape(b, h, w, t, d).permute(0, 3, 1, 2, 4).contiguous().MoveToOuterDisposeScope(); // b t h w d
    }

    /// <summary>Quantises encoder tokens (b, t, h, w, d) into codebook rows and indices (b, t, h, w).</summary>
    internal VqResult Quantize(Tensor tokens, Tensor? tokenMask = null)
    {
        using var scope = NewDisposeScope();
        long b = tokens.shape[0], t = tokens.shape[1], h = tokens.shape[2], w = tokens.shape[3], d = tokens.shape[4];
        var r = vq.forward(tokens.reshape(b, t * h * w, d), tokenMask);       // b (t h w) d
        var result = new VqResult(
            r.Quantized.reshape(b, t, h, w, d).MoveToOuterDisposeScope(),
            r.Indices.reshape(b, t, h, w).MoveToOuterDisposeScope(),
            r.CommitLoss.MoveToOuterDisposeScope());
        return result;
    }

    /// <summary>Decoder: tokens (b, t, h, w, d) or (b, t·h·w, d) → video (b, c, 1 + pt·(t − 1), H, W).</summary>
    public Tensor Decode(Tensor tokens, Action<string, Tensor>? trace = null)
    {
        using var scope = NewDisposeScope();
        long h = Config.GridSize, w = Config.GridSize;
        if (tokens.dim() == 3)
        {
            tokens = tokens.reshape(tokens.shape[0], -1, h, w, tokens.shape[2]);
        }

        long b = tokens.shape[0], t = tokens.shape[1], d = tokens.shape[4];
        var shape = (b, t, h, w);

        var x = tokens.permute(0, 2, 3, 1, 4).reshape(b * h * w, t, d);         // (b h w) t d
        x = dec_temporal_transformer.forward(x, shape, pegLayout: TemporalPegLayout);
        trace?.Invoke("dec_temporal", x);

        x = x.reshape(b, h, w, t, d).permute(0, 3, 1, 2, 4).reshape(b * t, h * w, d); // (b t) (h w) d
        var bias = spatial_rel_pos_bias.forward(x.device, h, w);
        x = dec_spatial_transformer.forward(x, shape, attnBias: bias);
        trace?.Invoke("dec_spatial", x);

        x = x.reshape(b, t, h, w, d);
        var first = to_pixels_first_frame.forward(x.narrow(1, 0, 1));
        trace?.Invoke("pixels_first_frame", first);
        var video = first;
        if (t > 1)
        {
            var rest = to_pixels.forward(x.narrow(1, 1, t - 1));
            trace?.Invoke("pixels_rest", rest);
            video = cat([first, rest], 2);
        }

        return video.MoveToOuterDisposeScope();
    }

    /// <summary>Codebook indices (b, t, h, w) → reconstructed video, via the raw codebook rows.</summary>
    public Tensor DecodeFromCodebookIndices(Tensor indices)
    {
        using var scope = NewDisposeScope();
        var codes = vq.Codebook.Embed[0].index_select(0, indices.reshape(-1))
            .reshape([.. indices.shape, Config.Dim]);
        return Decode(codes).MoveToOuterDisposeScope();
    }

    /// <summary>Volume → codebook indices (b, t, h, w) (the reference <c>return_only_codebook_ids</c>).</summary>
    public Tensor EncodeToIndices(Tensor video)
    {
        using var scope = NewDisposeScope();
        var q = Quantize(Encode(EmbedPatches(video))); // the scope disposes the rest
        return q.Indices.MoveToOuterDisposeScope();
    }

    /// <summary>Full pass (the reference <c>forward</c> up to the L2 loss): reconstruction, indices, commitment and MSE losses.</summary>
    public CtVitOutput forward(Tensor video, Action<string, Tensor>? trace = null)
    {
        using var scope = NewDisposeScope();
        var tokens = EmbedPatches(video, trace);
        trace?.Invoke("tokens_patch", tokens);
        var encoded = Encode(tokens, trace);
        trace?.Invoke("tokens_pre_vq", encoded);
        var q = Quantize(encoded);
        trace?.Invoke("indices", q.Indices);
        trace?.Invoke("tokens_vq", q.Quantized);
        var recon = Decode(q.Quantized, trace);
        trace?.Invoke("recon", recon);
        var mse = nn.functional.mse_loss(recon, video);
        return new CtVitOutput(
            recon.MoveToOuterDisposeScope(),
            q.Indices.MoveToOuterDisposeScope(),
            q.CommitLoss.MoveToOuterDisposeScope(),
            mse.MoveToOuterDisposeScope());
    }

    /// <summary>Reconstruction only (the reference <c>return_recons_only</c>).</summary>
    public Tensor Reconstruct(Tensor video)
    {
        using var output = forward(video);
        return output.Reconstruction.clone();
    }

    private void ValidateVideo(Tensor video)
    {
        if (video.dim() != 5)
        {
            throw new ArgumentException($"CT-ViT expects a (batch, channels, slices, height, width) tensor; got {video.dim()} dimensions", nameof(video));
        }

        if (video.shape[1] != Config.Channels || video.shape[3] != Config.ImageSize || video.shape[4] != Config.ImageSize)
        {
            throw new ArgumentException(
                $"config '{Config.Name}' expects {Config.Channels}×slices×{Config.ImageSize}×{Config.ImageSize}; got {video.shape[1]}×{video.shape[2]}×{video.shape[3]}×{video.shape[4]}",
                nameof(video));
        }

        Config.EnsureValidFrameCount(video.shape[2]);
    }
}
