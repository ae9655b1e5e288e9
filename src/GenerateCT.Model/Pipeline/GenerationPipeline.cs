using GenerateCT.Imaging;
using GenerateCT.Model.MaskGit;
using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Pipeline;

/// <summary>The stage a generation is in.</summary>
public enum GenerationStage
{
    Text,
    Tokens,
    Decode,
    SuperResolution,
}

/// <summary>Progress of one volume: stage, step i of n (tokens: i/18, SR: slice i/N), which volume of how many.</summary>
public readonly record struct GenerationProgress(int Volume, int Volumes, GenerationStage Stage, int Step, int Steps, int SrStage = 0);

/// <summary>What to generate: prompts × count volumes from one seed.</summary>
public sealed record GenerationRequest(IReadOnlyList<string> Prompts, long Seed, int Count = 1)
{
    /// <summary>Slices per SR batch; null takes the config's value or an automatic one.</summary>
    public int? SlicesPerBatch { get; init; }

    /// <summary>MaskGIT classifier-free guidance scale; null takes the config's (5 in `paper`, as released).</summary>
    public double? CondScale { get; init; }
}

/// <summary>One generated volume (HU, clipped to [-1000, 1000]) with its prompt and seed.</summary>
public sealed record GeneratedVolume(string Prompt, long Seed, int Index, Volume Volume, Volume LowResolution);

/// <summary>
/// The GenerateCT inference chain (GENERATECT.md "Inference"): z = T5(prompt); tokens = MaskGIT sampled in
/// 18 steps with CFG 5; x_lr = CT-ViT decoder(tokens) in [-1, 1] = HU/1000; then each SR stage of the
/// cascade per axial slice, conditioned on the same text; HU = 1000·(2·x − 1) clipped to [-1000, 1000].
/// Volume v of a request uses seed <see cref="VolumeSeed"/>(seed, v) for every stage, so a volume is
/// reproducible alone and in any cohort.
/// </summary>
public sealed class GenerationPipeline
{
    private readonly ModelBundle _models;
    private readonly Device _device;

    public GenerationPipeline(ModelBundle models)
    {
        _models = models;
        _device = models.CtVit.parameters().First().device;
    }

    public GenerationConfig Config => _models.Config;

    /// <summary>Seed of volume <paramref name="index"/> of a request.</summary>
    public static long VolumeSeed(long seed, int index) => (long)(SuperResDiffusion.SliceSeed(seed, index) >> 1);

    /// <summary>Throws <see cref="InvalidPromptException"/> when any prompt is unusable.</summary>
    public void ValidatePrompts(IReadOnlyList<string> prompts) => PromptValidation.Validate(prompts, _models.Text.Tokenizer);

    /// <summary>Generates prompts × count volumes on a worker thread; cancellation is checked at every step.</summary>
    public Task<IReadOnlyList<GeneratedVolume>> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Count, 1);
        ValidatePrompts(request.Prompts);
        return Task.Run(() => Generate(request, progress, cancellationToken), cancellationToken);
    }

    private IReadOnlyList<GeneratedVolume> Generate(GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken ct)
    {
        var config = Config;
        var total = request.Prompts.Count * request.Count;
        var results = new List<GeneratedVolume>(total);
        var grid = config.TokenGrid;
        var index = 0;
        foreach (var prompt in request.Prompts)
        {
            for (var k = 0; k < request.Count; k++, index++)
            {
                ct.ThrowIfCancellationRequested();
                var volumeNumber = index;
                var seed = VolumeSeed(request.Seed, index);
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();

                progress?.Report(new GenerationProgress(volumeNumber, total, GenerationStage.Text, 0, 1));
                using var text = _models.Text.Embed([prompt], OverLengthPolicy.Refuse); // 1 n d
                var context = text.Embeddings.to(_device);
                var mask = text.Mask.to(_device);
                progress?.Report(new GenerationProgress(volumeNumber, total, GenerationStage.Text, 1, 1));

                var options = MaskGitSamplingOptions.For(config.MaskGit, seed) with { CondScale = request.CondScale ?? config.MaskGit.CondScale };
                var ids = MaskGitSampler.SampleIds(
                    _models.MaskGit, 1, grid, context, mask, options,
                    new ImmediateProgress<int>(s => progress?.Report(new GenerationProgress(volumeNumber, total, GenerationStage.Tokens, s, options.Steps))),
                    ct);                                                                              // 1 (t h w)

                progress?.Report(new GenerationProgress(volumeNumber, total, GenerationStage.Decode, 0, 1));
                var video = _models.CtVit.DecodeFromCodebookIndices(ids.reshape(1, grid.T, grid.H, grid.W)); // 1 1 F h w
                var slices = video[0].permute(1, 0, 2, 3).clamp(-1, 1);                                     // F 1 h w in [-1, 1]
                progress?.Report(new GenerationProgress(volumeNumber, total, GenerationStage.Decode, 1, 1));
                var lowRes = ToVolume(slices, config, (int)config.CtVit.ImageSize);

                var current = (slices + 1) * 0.5;                                                           // F 1 h w in [0, 1]
                for (var s = 0; s < _models.SuperRes.Count; s++)
                {
                    var stage = s;
                    var diffusion = new SuperResDiffusion(_models.SuperRes[s], config.SuperRes[s].Diffusion);
                    var batch = request.SlicesPerBatch ?? config.SlicesPerBatch ?? AutoSlicesPerBatch(config.SuperRes[s].Diffusion.HighResSize);
                    current = diffusion.SuperResolve(
                        current, context, mask, seed, batch,
                        new ImmediateProgress<SuperResProgress>(p => progress?.Report(new GenerationProgress(volumeNumber, total, GenerationStage.SuperResolution, p.SlicesDone, p.TotalSlices, stage))),
                        ct);                                                                                // F 1 H W in [0, 1]
                }

                var hu = current * 2 - 1;
                var final = ToVolume(hu, config, config.OutputSize);
                results.Add(new GeneratedVolume(prompt, seed, index, final, lowRes));
            }
        }

        return results;
    }

    /// <summary>
    /// Slices per SR batch when not configured: 8 on CPU (more gains nothing on few cores); on CUDA 16 slices
    /// of 512² (the paper Unet needs well under 2 GB per slice without gradients), scaled by area.
    /// </summary>
    private int AutoSlicesPerBatch(int size) =>
        _device.type != DeviceType.CUDA ? 8 : Math.Clamp((int)(16 * (512.0 * 512.0) / ((double)size * size)), 1, 64);

    /// <summary>x (F 1 S S) in [-1, 1] → HU volume, clipped to [-1000, 1000], with the config's geometry.</summary>
    private static Volume ToVolume(Tensor x, GenerationConfig config, int size)
    {
        using var cpu = (x.detach().to(float32).cpu() * 1000).clamp(-1000, 1000).contiguous();
        var voxels = cpu.data<float>().ToArray();
        var frames = (int)x.shape[0];
        var fov = config.FieldOfViewMm;
        var volume = new Volume(frames, size, size, voxels)
        {
            Spacing = (config.ScanLengthMm / frames, fov / size, fov / size),
            // Centre the field of view on the isocentre (LPS 0, 0) and start at the head end (z = 0, decreasing).
            Origin = (-fov / 2 + (fov / size / 2), -fov / 2 + (fov / size / 2), 0),
            Direction = [1, 0, 0, 0, 1, 0, 0, 0, -1],
        };
        return volume;
    }
}

/// <summary>Reports on the calling thread at once (Progress&lt;T&gt; would post to a context, out of order).</summary>
internal sealed class ImmediateProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
