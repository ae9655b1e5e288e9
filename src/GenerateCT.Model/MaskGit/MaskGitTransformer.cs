using GenerateCT.Model.CtVit;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using CtVitModel = GenerateCT.Model.CtVit.CtVit;

namespace GenerateCT.Model.MaskGit;

/// <summary>
/// The masked-token loss of one batch, with the accuracy on the masked positions and, when the model has
/// a token critic, the critic's binary cross-entropy.
/// </summary>
public sealed class MaskGitLoss(Tensor loss, Tensor accuracy, long maskedTokens, Tensor? criticLoss = null) : IDisposable
{
    /// <summary>Scalar cross-entropy over the masked positions (differentiable).</summary>
    public Tensor Loss { get; } = loss;

    /// <summary>Scalar fraction of masked positions whose argmax is the true id.</summary>
    public Tensor Accuracy { get; } = accuracy;

    public long MaskedTokens { get; } = maskedTokens;

    /// <summary>Scalar token-critic binary cross-entropy (differentiable in the critic only), or null without a critic.</summary>
    public Tensor? CriticLoss { get; } = criticLoss;

    public void Dispose()
    {
        Loss.Dispose();
        Accuracy.Dispose();
        CriticLoss?.Dispose();
    }
}

/// <summary>
/// GenerateCT's stage-2 model (MaskGITTransformer.py <c>MaskGITTransformer</c>): a frozen CT-ViT without
/// its loss networks (<c>copy_for_eval</c>: no vgg/discr keys) that turns volumes into codebook ids and ids
/// back into volumes, the trainable <see cref="MaskGit"/> and, optionally, a trainable
/// <see cref="MaskGit.TokenCritic"/> (the paper trains one; the release has critic = None).
/// State-dict keys: <c>ctvit.*</c>, <c>maskgit.*</c> (as in transformer_pretrained.pt), then <c>critic.*</c>
/// only when a critic is present.
/// </summary>
public sealed class MaskGitTransformer : nn.Module
{
    private readonly CtVitModel ctvit;
    private readonly MaskGit maskgit;
    private readonly TokenCritic? critic;

    public MaskGitTransformer(CtVitModel ctvit, MaskGit maskgit, TokenCritic? critic = null) : base(nameof(MaskGitTransformer))
    {
        if (ctvit.Vgg is not null || ctvit.Discr is not null)
        {
            throw new ArgumentException("the CT-ViT inside MaskGITTransformer has no VGG/discriminator (build it with UseVggAndGan = false, as copy_for_eval does)", nameof(ctvit));
        }

        if (ctvit.Config.CodebookSize != maskgit.Config.NumTokens)
        {
            throw new ArgumentException($"CT-ViT codebook size {ctvit.Config.CodebookSize} differs from MaskGit num_tokens {maskgit.Config.NumTokens}", nameof(maskgit));
        }

        if (critic is not null && (critic.Config.NumTokens != maskgit.Config.NumTokens || critic.Config.Unconditional != maskgit.Config.Unconditional))
        {
            throw new ArgumentException("the token critic must read the same codebook as MaskGit and be conditioned on text exactly when MaskGit is", nameof(critic));
        }

        this.ctvit = ctvit;
        this.maskgit = maskgit;
        this.critic = critic;
        register_module(nameof(ctvit), ctvit);
        register_module(nameof(maskgit), maskgit);
        if (critic is not null)
        {
            register_module(nameof(critic), critic);
        }

        FreezeCtVit();
    }

    public CtVitModel CtVit => ctvit;

    public MaskGit MaskGit => maskgit;

    /// <summary>The token critic, or null (as released).</summary>
    public TokenCritic? Critic => critic;

    /// <summary>What stage-2 training updates: MaskGit, then the critic when there is one.</summary>
    public IEnumerable<Parameter> TrainableParameters() =>
        critic is null ? maskgit.parameters() : maskgit.parameters().Concat(critic.parameters());

    /// <summary>Builds the wrapper for named configs (CT-ViT without its loss networks; a critic when <see cref="MaskGitConfig.TokenCritic"/>).</summary>
    public static MaskGitTransformer Create(CtVitConfig ctvitConfig, MaskGitConfig maskgitConfig) =>
        new(
            new CtVitModel(ctvitConfig with { UseVggAndGan = false }),
            new MaskGit(maskgitConfig),
            maskgitConfig.TokenCritic ? new TokenCritic(maskgitConfig) : null);

    /// <summary>The frozen CT-ViT's codebook ids (b, t, h, w) of volumes b × 1 × T × H × W in [−1, 1].</summary>
    public Tensor EncodeToIds(Tensor video)
    {
        using var noGrad = no_grad();
        ctvit.eval();
        return ctvit.EncodeToIndices(video);
    }

    /// <summary>
    /// The training objective (MaskGITTransformer.forward): per sample a step s ~ U{0…S−1}, mask
    /// round(n·cos(π/2·s/S)) random tokens (≥ 1), predict them with the text hidden with probability
    /// <paramref name="condDropProb"/>, cross-entropy on the masked positions only. With a token critic
    /// (and <paramref name="includeCritic"/>), the generator's Gumbel samples at
    /// <paramref name="criticSampleTemperature"/> replace the masked tokens, and the critic learns, by binary
    /// cross-entropy, which tokens of that sequence differ from the real ones. The samples carry no
    /// gradient, so this loss trains the critic only.
    /// </summary>
    /// <param name="ids">b t h w codebook ids from <see cref="EncodeToIds"/>.</param>
    /// <param name="context">b j d prompt embeddings (zeros at padding).</param>
    public MaskGitLoss Loss(Tensor ids, Tensor? context, Tensor? textMask, double condDropProb, Generator? generator = null, double criticSampleTemperature = 1, bool includeCritic = true)
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
        Tensor? criticLoss = null;
        if (critic is not null && includeCritic)
        {
            var predicted = MaskGitSampler.GumbelSample(logits.detach(), criticSampleTemperature, generator); // b n
            var criticInput = where(masked, predicted, flat);                                                  // b n
            // Label = "this token is not the real one". The reference labels every position by
            // predicted ≠ real, also unmasked ones whose real token the critic sees; a masked position
            // whose sample happens to equal the real id is real too. Both are labelled by what the
            // critic reads here.
            var labels = criticInput.ne(flat).to(float32);
            var criticLogits = critic.forward(criticInput.reshape(ids.shape), context: context, textMask: textMask, condDropProb: condDropProb, generator: generator); // b n
            criticLoss = nn.functional.binary_cross_entropy_with_logits(criticLogits, labels).MoveToOuterDisposeScope();
        }

        return new MaskGitLoss(loss.MoveToOuterDisposeScope(), accuracy.MoveToOuterDisposeScope(), targets.shape[0], criticLoss);
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
        using var ids = MaskGitSampler.SampleIds(maskgit, batch, grid, context, textMask, options, progress, cancellationToken, critic);
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
