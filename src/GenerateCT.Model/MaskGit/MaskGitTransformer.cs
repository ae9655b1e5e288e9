using GenerateCT.Model.CtVit;
using TorchSharp;
using static TorchSharp.torch;
using CtVitModel = GenerateCT.Model.CtVit.CtVit;

namespace GenerateCT.Model.MaskGit;

/// <summary>The masked-token loss of one batch, with the accuracy on the masked positions.</summary>
public sealed class MaskGitLoss(Tensor loss, Tensor accuracy, long maskedTokens) : IDisposable
{
    /// <summary>Scalar cross-entropy over the masked positions (differentiable).</summary>
    public Tensor Loss { get; } = loss;

    /// <summary>Scalar fraction of masked positions whose argmax is the true id.</summary>
    public Tensor Accuracy { get; } = accuracy;

    public long MaskedTokens { get; } = maskedTokens;

    public void Dispose()
    {
        Loss.Dispose();
        Accuracy.Dispose();
    }
}

/// <summary>
/// GenerateCT's stage-2 model (MaskGITTransformer.py <c>MaskGITTransformer</c>, critic = None as
/// released): a frozen CT-ViT without its loss networks (<c>copy_for_eval</c>: no vgg/discr keys) that
/// turns volumes into codebook ids and ids back into volumes, and the trainable <see cref="MaskGit"/>.
/// State-dict keys: <c>ctvit.*</c> then <c>maskgit.*</c>, as in transformer_pretrained.pt.
/// </summary>
public sealed class MaskGitTransformer : nn.Module
{
    private readonly CtVitModel ctvit;
    private readonly MaskGit maskgit;

    public MaskGitTransformer(CtVitModel ctvit, MaskGit maskgit) : base(nameof(MaskGitTransformer))
    {
        if (ctvit.Vgg is not null || ctvit.Discr is not null)
        {
            throw new ArgumentException("the CT-ViT inside MaskGITTransformer has no VGG/discriminator (build it with UseVggAndGan = false, as copy_for_eval does)", nameof(ctvit));
        }

        if (ctvit.Config.CodebookSize != maskgit.Config.NumTokens)
        {
            throw new ArgumentException($"CT-ViT codebook size {ctvit.Config.CodebookSize} differs from MaskGit num_tokens {maskgit.Config.NumTokens}", nameof(maskgit));
        }

        this.ctvit = ctvit;
        this.maskgit = maskgit;
        register_module(nameof(ctvit), ctvit);
        register_module(nameof(maskgit), maskgit);
        FreezeCtVit();
    }

    public CtVitModel CtVit => ctvit;

    public MaskGit MaskGit => maskgit;

    /// <summary>Builds the wrapper for named configs (CT-ViT without its loss networks).</summary>
    public static MaskGitTransformer Create(CtVitConfig ctvitConfig, MaskGitConfig maskgitConfig) =>
        new(new CtVitModel(ctvitConfig with { UseVggAndGan = false }), new MaskGit(maskgitConfig));

    /// <summary>The frozen CT-ViT's codebook ids (b, t, h, w) of volumes b × 1 × T × H × W in [−1, 1].</summary>
    public Tensor EncodeToIds(Tensor video)
    {
        using var noGrad = no_grad();
        ctvit.eval();
        return ctvit.EncodeToIndices(video);
    }

    /// <summary>
    /// The training objective (MaskGITTransformer.forward without critic): per sample a step s ~ U{0…S−1},
    /// mask round(n·cos(π/2·s/S)) random tokens (≥ 1), predict them with the text hidden with
    /// probability <paramref name="condDropProb"/>, cross-entropy on the masked positions only.
    /// </summary>
    /// <param name="ids">b t h w codebook ids from <see cref="EncodeToIds"/>.</param>
    /// <param name="context">b j d prompt embeddings (zeros at padding).</param>
    public MaskGitLoss Loss(Tensor ids, Tensor? context, Tensor? textMask, double condDropProb, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var b = ids.shape[0];
        var flat = ids.reshape(b, -1); // b n
        var n = flat.shape[1];
        var steps = maskgit.Config.Steps;
        var randStep = randint(0, steps, [b], generator: generator, device: ids.device);
        var maskProb = (randStep.to(float32) * (Math.PI * 0.5 / steps)).cos(); // b
        var masked = MaskSubset(b, n, maskProb, ids.device, generator);       // b n
        var input = where(masked, full_like(flat, maskgit.Config.MaskId), flat).reshape(ids.shape);
        textMask ??= context?.ne(0).any(-1);
        var logits = maskgit.forward(input, context: context, textMask: textMask, condDropProb: condDropProb, generator: generator); // b n K
        var selectedLogits = logits[masked];   // m K
        var targets = flat[masked];            // m
        var loss = nn.functional.cross_entropy(selectedLogits, targets);
        var accuracy = selectedLogits.argmax(-1).eq(targets).to(float32).mean();
        return new MaskGitLoss(loss.MoveToOuterDisposeScope(), accuracy.MoveToOuterDisposeScope(), targets.shape[0]);
    }

    /// <summary>get_mask_subset_with_prob with no padding: round(p·n) (≥ 1) uniformly random positions per row.</summary>
    internal static Tensor MaskSubset(long b, long n, Tensor prob, Device device, Generator? generator)
    {
        using var scope = NewDisposeScope();
        var count = (prob * n).round().clamp_min(1); // b
        var rank = rand([b, n], generator: generator, device: device).argsort(-1); // a random permutation per row
        return rank.lt(count.unsqueeze(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Text → volume as MaskGITTransformer.sample: ids by <see cref="MaskGitSampler"/> on the token grid of
    /// <paramref name="frames"/> slices (1 + 2k), decoded by the frozen CT-ViT: b × 1 × frames × H × W.
    /// </summary>
    public Tensor Sample(Tensor? context, Tensor? textMask, long batch, long frames, MaskGitSamplingOptions options, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        var grid = ctvit.Config.TokenGrid(frames);
        using var ids = MaskGitSampler.SampleIds(maskgit, batch, grid, context, textMask, options, progress, cancellationToken);
        using var noGrad = no_grad();
        ctvit.eval();
        using var grid4 = ids.reshape(batch, grid.T, grid.H, grid.W);
        return ctvit.DecodeFromCodebookIndices(grid4);
    }

    /// <summary>The CT-ViT is frozen in stage 2: no gradients, always eval (its VQ EMA must not move).</summary>
    private void FreezeCtVit()
    {
        foreach (var p in ctvit.parameters())
        {
            p.requires_grad = false;
        }
    }

    public override void train(bool train = true)
    {
        base.train(train);
        ctvit.eval();
    }
}
