using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.MaskGit;

/// <summary>Options of one MaskGIT sampling run (defaults: the released inference, cond_scale 5).</summary>
public sealed record MaskGitSamplingOptions
{
    public int Steps { get; init; } = 18;

    public double CondScale { get; init; } = 5;

    /// <summary>Gumbel temperature at step 0, annealed linearly to 0 at the last step.</summary>
    public double StartingTemperature { get; init; } = 0.9;

    /// <summary>
    /// noise_K of the reference: with a token critic, uniform noise of this amplitude, decaying linearly to 0
    /// over the steps (its 'decay' schedule; Lezama et al. 2022 §3.2), is added to the critic's scores.
    /// </summary>
    public double CriticNoise { get; init; } = 1;

    /// <summary>Seed of the sampler's own generator: one seed gives one result on one device.</summary>
    public long Seed { get; init; }

    public static MaskGitSamplingOptions For(MaskGitConfig config, long seed) => new()
    {
        Steps = config.Steps,
        CondScale = config.CondScale,
        StartingTemperature = config.StartingTemperature,
        Seed = seed,
    };
}

/// <summary>
/// Iterative parallel decoding (Chang et al. 2022, §3.2, as in MaskGITTransformer.sample without
/// priming): start fully masked; at step s re-mask the round(n·cos(π/2·s/S)) least confident tokens
/// (confidence = 1 − p(predicted id) under the guided logits; kept tokens never re-mask), predict all
/// masked tokens by Gumbel-max sampling at temperature T₀·(S − s − 1)/S. With a token critic, the
/// tokens to re-mask are instead the ones the guided critic scores most likely generated (plus
/// decaying noise), over the whole sequence: a token kept earlier can be re-masked (Lezama et al. 2022).
/// </summary>
public static class MaskGitSampler
{
    /// <summary>Codebook ids b × (t·h·w), every one in [0, num_tokens).</summary>
    /// <param name="context">b j d prompt embeddings (null: unconditional).</param>
    /// <param name="progress">Receives the number of finished steps.</param>
    /// <param name="critic">Token critic choosing what to re-mask, or null for the generator's confidence.</param>
    public static Tensor SampleIds(
        MaskGit maskgit,
        long batch,
        (long T, long H, long W) grid,
        Tensor? context,
        Tensor? textMask,
        MaskGitSamplingOptions options,
        IProgress<int>? progress = null,
        CancellationToken cancellationToken = default,
        TokenCritic? critic = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Steps, 1);
        var device = maskgit.parameters().First().device;
        var wasTraining = maskgit.training;
        var criticWasTraining = critic?.training ?? false;
        maskgit.eval();
        critic?.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var generator = new Generator((ulong)options.Seed, device);
            var n = grid.T * grid.H * grid.W;
            var mask = ones([batch, n], dtype: @bool, device: device);
            var ids = full([batch, n], maskgit.Config.MaskId, dtype: int64, device: device);
            Tensor? scores = null;
            var steps = options.Steps;
            // The weights do not change while sampling, so the (heads, n, n) bias is computed once.
            var bias = maskgit.PositionBias(grid.T, grid.H, grid.W, device);
            for (var step = 0; step < steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                if (step > 0 && scores is not null)
                {
                    // Cosine schedule, computed in float32 like the reference's torch.cos on a tensor.
                    var time = full([1], step / (float)steps, dtype: float32);
                    var count = Math.Max(1L, (n * (time * (Math.PI * 0.5)).cos()).round().to(int64).item<long>());
                    var (_, indices) = scores.topk((int)count, dim: -1);
                    mask = zeros([batch, n], dtype: @bool, device: device).scatter(1, indices, ones_like(indices, dtype: @bool));
                }

                ids = where(mask, full_like(ids, maskgit.Config.MaskId), ids);
                var logits = maskgit.ForwardWithCondScale(ids, grid, context, textMask, options.CondScale, bias); // b n K
                var temperature = options.StartingTemperature * ((steps - (step + 1)) / (double)steps);
                var predicted = GumbelSample(logits, temperature, generator);
                ids = where(mask, predicted, ids);
                if (step < steps - 1 && critic is not null)
                {
                    var criticScores = critic.ForwardWithCondScale(ids, grid, context, textMask, options.CondScale); // b n
                    var noiseMultiplier = (steps - (step + 1)) / (double)steps;
                    var noise = (rand(criticScores.shape, generator: generator, device: device) - 0.5) * (options.CriticNoise * noiseMultiplier);
                    scores = (criticScores + noise).MoveToOuterDisposeScope();
                }
                else if (step < steps - 1)
                {
                    var probs = logits.softmax(-1);
                    var confidence = probs.gather(2, predicted.unsqueeze(-1)).squeeze(-1);
                    scores = where(mask, 1 - confidence, full_like(confidence, -1e4f));
                    scores.MoveToOuterDisposeScope();
                }

                ids.MoveToOuterDisposeScope();
                mask.MoveToOuterDisposeScope();
                progress?.Report(step + 1);
            }

            return ids.MoveToOuterDisposeScope();
        }
        finally
        {
            maskgit.train(wasTraining);
            critic?.train(criticWasTraining);
        }
    }

    /// <summary>argmax(logits / max(T, 1e−10) + Gumbel noise), noise = −log(−log(u + 1e−10) + 1e−10).</summary>
    internal static Tensor GumbelSample(Tensor logits, double temperature, Generator? generator)
    {
        using var scope = NewDisposeScope();
        var u = rand(logits.shape, generator: generator, device: logits.device);
        var noise = -(-(u + 1e-10).log() + 1e-10).log();
        return ((logits / Math.Max(temperature, 1e-10)) + noise).argmax(-1).MoveToOuterDisposeScope();
    }
}
