using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.SuperRes;

/// <summary>Progress of a volume super-resolution: slices finished out of the total.</summary>
public readonly record struct SuperResProgress(int SlicesDone, int TotalSlices);

/// <summary>
/// The released SR diffusion around a <see cref="SuperResUnet"/>: continuous-time cosine schedule with
/// v-prediction (Salimans &amp; Ho 2022), low-res conditioning augmentation with the linear schedule
/// (Imagen §2.5), dynamic thresholding (Imagen §2.3), the ancestral sampler of imagen-pytorch
/// (<c>p_sample_loop</c>, posterior of VDM eq. 33) and the released training loss.
/// <para>
/// Randomness is drawn per slice from a CPU generator seeded by (seed, slice index), in the order the
/// reference draws it (low-res augmentation noise, x_T, then one draw per step), so a slice comes out
/// the same whether it is sampled alone or in a batch of any size, and on any device.
/// </para>
/// </summary>
public sealed class SuperResDiffusion
{
    public SuperResDiffusion(SuperResUnet unet, SuperResDiffusionOptions options)
    {
        Unet = unet;
        Options = options;
        if (options.HighResSize % unet.Config.SizeDivisor != 0)
        {
            throw new ArgumentException($"HighResSize {options.HighResSize} must be a multiple of {unet.Config.SizeDivisor} for this Unet", nameof(options));
        }
    }

    public SuperResUnet Unet { get; }

    public SuperResDiffusionOptions Options { get; }

    /// <summary>
    /// Slices per batch when the caller says "auto": on CUDA 16 (a 512² paper-config slice needs well under
    /// 2 GB of activations at inference, so 16 fit an 80 GB card with room for the other stages), on CPU 4
    /// (batching there mostly saves per-op overhead). A heuristic, not a measurement of free memory.
    /// </summary>
    public static int AutoSlicesPerBatch(Device device) => device.type == DeviceType.CUDA ? 16 : 4;

    /// <summary>The generator seed of slice <paramref name="sliceIndex"/> (SplitMix64 of seed and index).</summary>
    public static ulong SliceSeed(long seed, int sliceIndex)
    {
        var z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)sliceIndex + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Super-resolves a stack of low-res slices, <paramref name="slicesPerBatch"/> at a time.
    /// </summary>
    /// <param name="lowRes">Z 1 h w (or Z h w) in [0, 1]</param>
    /// <param name="textEmbeds">1 n d (one prompt for all slices) or Z n d</param>
    /// <param name="textMask">matching mask, or null to derive it as "any feature ≠ 0" as released</param>
    /// <param name="seed">volume seed; slice i uses <see cref="SliceSeed"/>(seed, i)</param>
    /// <returns>Z 1 H W in [0, 1] on the CPU</returns>
    public Tensor SuperResolve(Tensor lowRes, Tensor textEmbeds, Tensor? textMask, long seed, int slicesPerBatch,
        IProgress<SuperResProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slicesPerBatch, 1);
        var slices = lowRes.dim() == 3 ? lowRes.unsqueeze(1) : lowRes;
        var total = (int)slices.shape[0];
        var results = new List<Tensor>();
        try
        {
            for (var start = 0; start < total; start += slicesPerBatch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var count = Math.Min(slicesPerBatch, total - start);
                using var scope = NewDisposeScope();
                var batch = slices[start..(start + count)];
                var (text, mask) = TextForSlices(textEmbeds, textMask, start, count);
                var indices = Enumerable.Range(start, count).ToArray();
                var sr = SampleSlices(batch, text, mask, seed, indices, cancellationToken);
                results.Add(sr.cpu().MoveToOuterDisposeScope());
                progress?.Report(new SuperResProgress(start + count, total));
            }

            return cat(results.ToArray(), 0);
        }
        finally
        {
            foreach (var r in results)
            {
                r.Dispose();
            }
        }
    }

    /// <summary>
    /// Samples one batch of slices with the released sampler; <paramref name="sliceIndices"/> name the
    /// per-slice generators.
    /// </summary>
    /// <param name="lowRes">b 1 h w in [0, 1]</param>
    /// <param name="textEmbeds">b n d</param>
    /// <param name="textMask">b n</param>
    /// <returns>b 1 H W in [0, 1], on the Unet's device</returns>
    public Tensor SampleSlices(Tensor lowRes, Tensor textEmbeds, Tensor textMask, long seed, IReadOnlyList<int> sliceIndices,
        CancellationToken cancellationToken = default)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.parameters().First().device;
        var b = lowRes.shape[0];
        if (sliceIndices.Count != b)
        {
            throw new ArgumentException($"{sliceIndices.Count} slice indices for a batch of {b}", nameof(sliceIndices));
        }

        var size = Options.HighResSize;
        var shape = new long[] { 1, lowRes.shape[1], size, size };
        var generators = sliceIndices.Select(i => new Generator(SliceSeed(seed, i))).ToArray();
        try
        {
            Tensor Draw() => cat(generators.Select(g => randn(shape, generator: g)).ToArray(), 0).to(device);

            // low-res conditioning: resize (nearest, as released) → [-1, 1] → noise to the fixed level 0.1
            var lowresCond = ResizeNearest(ResizeNearest(lowRes.to(device), Options.LowResSize), size) * 2 - 1;
            var lowresTimes = full(b, Options.LowresSampleNoiseLevel, device: device);
            var lowresLogSnr = NoiseSchedule.Linear.LogSnr(lowresTimes);
            var (la, ls) = NoiseSchedule.AlphaSigma(PadDims(lowresLogSnr));
            lowresCond = la * lowresCond + ls * Draw();

            var text = textEmbeds.to(device);
            var mask = textMask.to(device);
            var img = Draw();                                                      // x_T ~ N(0, I)
            var steps = Options.Timesteps;
            for (var i = 0; i < steps; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var t = full(b, 1.0 - (double)i / steps, device: device);
                var tNext = full(b, 1.0 - (double)(i + 1) / steps, device: device);
                if (i == steps - 1)
                {
                    tNext = zeros(b, device: device); // linspace(1, 0) ends exactly at 0
                }

                var noise = Draw();
                var next = PSample(img, t, tNext, lowresCond, lowresLogSnr, text, mask, noise, isLast: i == steps - 1);
                img = next.MoveToOuterDisposeScope();
            }

            return ((img.clamp(-1, 1) + 1) * 0.5).MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var g in generators)
            {
                g.Dispose();
            }
        }
    }

    /// <summary>
    /// One ancestral step t → t_next: v → x̂₀ = α x_t − σ v, dynamic thresholding, then the posterior
    /// q(x_{t_next} | x_t, x̂₀) of VDM eq. 33 with c = −expm1(λ_t − λ_next).
    /// </summary>
    private Tensor PSample(Tensor x, Tensor t, Tensor tNext, Tensor lowresCond, Tensor lowresLogSnr, Tensor text, Tensor mask, Tensor noise, bool isLast)
    {
        using var scope = NewDisposeScope();
        var logSnr = NoiseSchedule.Cosine.LogSnr(t);
        var v = Unet.ForwardWithCondScale(x, logSnr, lowresCond, lowresLogSnr, text, mask, Options.CondScale);
        var (alpha, sigma) = NoiseSchedule.AlphaSigma(PadDims(logSnr));
        var xStart = alpha * x - sigma * v;
        xStart = Threshold(xStart);

        var (mean, variance) = NoiseSchedule.Posterior(xStart, x, PadDims(logSnr), PadDims(NoiseSchedule.Cosine.LogSnr(tNext)));
        if (isLast)
        {
            return mean.MoveToOuterDisposeScope(); // no noise on the step that ends at t = 0
        }

        var logVariance = variance.clamp_min(1e-20).log();
        return (mean + (logVariance * 0.5).exp() * noise).MoveToOuterDisposeScope();
    }

    private Tensor Threshold(Tensor xStart) =>
        Options.DynamicThresholding ? DynamicThreshold(xStart, Options.DynamicThresholdingPercentile) : xStart.clamp(-1, 1);

    /// <summary>
    /// Imagen dynamic thresholding (Saharia et al. 2022, §2.3): s = max(1, quantile_p |x̂₀|) per sample,
    /// x̂₀ ← clamp(x̂₀, −s, s) / s.
    /// </summary>
    /// <param name="xStart">b ... estimate of x₀</param>
    public static Tensor DynamicThreshold(Tensor xStart, double percentile)
    {
        using var scope = NewDisposeScope();
        var flat = xStart.reshape(xStart.shape[0], -1).abs();
        // torch.quantile's default linear interpolation between the two order statistics around p·(n−1)
        var n = flat.shape[1];
        var position = percentile * (n - 1);
        var lower = (long)Math.Floor(position);
        var upper = Math.Min(lower + 1, n - 1);
        var sorted = flat.sort(-1).Values;
        var lo = sorted[.., lower];
        var hi = sorted[.., upper];
        var s = (lo + (hi - lo) * (position - lower)).clamp_min(1.0);                   // b
        s = s.view(new long[] { s.shape[0] }.Concat(Enumerable.Repeat(1L, (int)xStart.dim() - 1)).ToArray());
        return (xStart.clamp(-s, s) / s).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The released training loss (<c>Superres.p_losses</c>): x₀ and the low-res image to [-1, 1], optional
    /// shared random crop, t ~ U(0,1) per sample, one low-res augmentation time per batch, v target
    /// α ε − σ x₀, per-sample MSE weighted by the P2 factor (k + e^λ)^−γ, averaged.
    /// </summary>
    /// <param name="highRes">b 1 H W in [0, 1] (H = HighResSize)</param>
    /// <param name="lowRes">b 1 h w in [0, 1], or null to take the nearest down-sampling of highRes (the released fallback)</param>
    public Tensor Loss(Tensor highRes, Tensor? lowRes, Tensor textEmbeds, Tensor textMask, Generator generator)
    {
        using var scope = NewDisposeScope();
        var device = highRes.device;
        var b = highRes.shape[0];
        var size = Options.HighResSize;
        var low = lowRes ?? ResizeNearest(highRes, Options.LowResSize).clamp(0, 1);
        var lowUp = ResizeNearest(ResizeNearest(low, Options.LowResSize).clamp(0, 1), size).clamp(0, 1);

        var times = rand(new long[] { b }, generator: generator).to(device);
        var augTimes = (rand(new long[] { 1 }, generator: generator) * Options.TrainingLowresNoiseMax).expand(b).contiguous().to(device);

        var xStart = ResizeNearest(highRes, size) * 2 - 1;
        var lowCond = lowUp * 2 - 1;
        var noise = randn(xStart.shape, generator: generator).to(device);
        if (Options.RandomCropSize is { } crop && crop < size)
        {
            var top = (long)(rand(new long[] { 1 }, generator: generator).item<float>() * (size - crop + 1));
            var left = (long)(rand(new long[] { 1 }, generator: generator).item<float>() * (size - crop + 1));
            top = Math.Min(top, size - crop);
            left = Math.Min(left, size - crop);
            Tensor Crop(Tensor x) => x.narrow(2, top, crop).narrow(3, left, crop).contiguous();
            xStart = Crop(xStart);
            lowCond = Crop(lowCond);
            noise = Crop(noise);
        }

        var logSnr = NoiseSchedule.Cosine.LogSnr(times);
        var (alpha, sigma) = NoiseSchedule.AlphaSigma(PadDims(logSnr));
        var xNoisy = alpha * xStart + sigma * noise;

        var augLogSnr = NoiseSchedule.Linear.LogSnr(augTimes);
        var (la, ls) = NoiseSchedule.AlphaSigma(PadDims(augLogSnr));
        var lowNoisy = la * lowCond + ls * randn(lowCond.shape, generator: generator).to(device);

        var pred = Unet.forward(xNoisy, logSnr, lowNoisy, augLogSnr, textEmbeds.to(device), textMask.to(device), Options.CondDropProb, generator);
        var target = alpha * noise - sigma * xStart;
        var losses = (pred - target).pow(2).reshape(b, -1).mean(new long[] { 1 });
        if (Options.P2LossWeightGamma > 0)
        {
            losses = losses * (logSnr.exp() + Options.P2LossWeightK).pow(-Options.P2LossWeightGamma);
        }

        return losses.mean().MoveToOuterDisposeScope();
    }

    /// <summary>The released text mask convention: a position is real when any feature is non-zero.</summary>
    public static Tensor MaskFromEmbeddings(Tensor textEmbeds) => textEmbeds.ne(0).any(-1);

    private static (Tensor Text, Tensor Mask) TextForSlices(Tensor textEmbeds, Tensor? textMask, int start, int count)
    {
        var mask = textMask ?? MaskFromEmbeddings(textEmbeds);
        if (textEmbeds.shape[0] == 1)
        {
            return (textEmbeds.expand(count, -1, -1), mask.expand(count, -1));
        }

        return (textEmbeds[start..(start + count)], mask[start..(start + count)]);
    }

    private static Tensor ResizeNearest(Tensor x, int size) =>
        x.shape[^1] == size && x.shape[^2] == size
            ? x.alias()
            : nn.functional.interpolate(x, new long[] { size, size }, mode: InterpolationMode.Nearest);

    private static Tensor PadDims(Tensor t) => t.view(t.shape[0], 1, 1, 1);
}
