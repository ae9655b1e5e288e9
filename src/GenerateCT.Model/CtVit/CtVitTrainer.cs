using GenerateCT.Model.Checkpoints;
using GenerateCT.Model.Precision;
using GenerateCT.Model.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.CtVit;

/// <summary>
/// Trains CT-ViT as a VQ-GAN (paper §3.2; Esser et al. 2021): L2 reconstruction + VQ commitment,
/// perceptual loss on a random slice through the frozen VGG16 when its ImageNet weights are available,
/// and after a warm-up a hinge adversarial loss on a random slice, balanced by the adaptive weight
/// ‖∇L_rec‖/‖∇L_gan‖ at the last decoder layer, with the discriminator trained by hinge loss plus a
/// gradient penalty. Adam(0.9, 0.99), gradient accumulation, periodic checkpoints that resume exactly
/// (weights, EMA codebook, both optimizers, loss scale, step). Mixed precision
/// (<see cref="CtVitTrainingOptions.Precision"/>): the autoencoder forward and the generator losses run
/// under libtorch autocast (bf16, or fp16 with dynamic loss scaling), backward and the optimizer act on
/// float32 master weights, and the discriminator update stays in float32.
/// </summary>
public sealed class CtVitTrainer : IStageTrainer<CtVolumeDataset>
{
    private readonly CtVit _model;
    private readonly CtVolumeDataset _data;
    private readonly Device _device;
    private readonly Adam _optimizer;
    private readonly Adam? _discrOptimizer;
    private readonly Random _random;
    private readonly Action<string> _warn;
    private readonly bool[] _codesSeen;
    private readonly DynamicLossScaler? _scaler;
    private readonly LearningRateSchedule _schedule;

    public CtVitTrainer(CtVit model, CtVolumeDataset data, CtVitTrainingOptions options, Device device, Action<string>? warn = null)
    {
        _model = model;
        _data = data;
        Options = options;
        _device = device;
        _warn = warn ?? (_ => { });
        _random = new Random(unchecked((int)options.Seed));
        _codesSeen = new bool[model.Config.CodebookSize];
        _schedule = options.Schedule();
        if (options.BatchSize < 1 || options.GradientAccumulationSteps < 1)
        {
            throw new ArgumentException("batch size and gradient accumulation must be at least 1", nameof(options));
        }

        Precision = MixedPrecision.Resolve(options.Precision, device);
        _warn(Precision.Describe());
        if (Precision.NeedsLossScaling)
        {
            _scaler = new DynamicLossScaler(options.InitialLossScale, growthInterval: options.LossScaleGrowthInterval);
        }

        model.to(device);

        if (model.Vgg is { } vgg)
        {
            foreach (var p in vgg.parameters())
            {
                p.requires_grad = false;
            }

            if (options.VggWeightsPath is { } vggPath)
            {
                var report = ReferenceWeights.Load(vgg, vggPath);
                PerceptualLossEnabled = true;
                _warn($"perceptual loss on: VGG16 weights loaded from {vggPath} ({report.Matched} tensors)");
            }
            else
            {
                _warn("perceptual loss skipped: no VGG16 ImageNet weights given (--vgg-weights); training uses L2 + commitment" + (model.Discr is null ? string.Empty : " + adversarial"));
            }
        }
        else
        {
            _warn($"config '{model.Config.Name}' has no VGG/discriminator: training uses L2 reconstruction + VQ commitment only");
        }

        _optimizer = optim.Adam(model.AutoencoderParameters(), options.LearningRate, options.Beta1, options.Beta2);
        if (model.Discr is { } discr)
        {
            _discrOptimizer = optim.Adam(discr.parameters(), options.LearningRate, options.Beta1, options.Beta2);
        }
    }

    public CtVitTrainingOptions Options { get; }

    public ModelStage Stage => ModelStage.CtVit;

    IStageTrainingOptions IStageTrainer<CtVolumeDataset>.Settings => Options;

    /// <summary>The precision in use (auto resolved for the device).</summary>
    public ResolvedPrecision Precision { get; }

    /// <summary>The fp16 loss scaler, or null when the precision needs none.</summary>
    public DynamicLossScaler? LossScaler => _scaler;

    public CtVit Model => _model;

    /// <summary>Optimizer steps done so far (restored on resume).</summary>
    public long Step { get; private set; }

    /// <summary>True when VGG16 weights were loaded, so the perceptual term is part of the loss.</summary>
    public bool PerceptualLossEnabled { get; private set; }

    /// <summary>True from the step the adversarial loss and the discriminator are active.</summary>
    public bool AdversarialLossActive => _model.Discr is not null && Step >= Options.DiscriminatorWarmupSteps;

    /// <summary>
    /// Turns the perceptual loss on when the model's VGG16 already holds real weights, e.g. after loading a
    /// reference CT-ViT checkpoint, which carries the ImageNet VGG16 as <c>vgg.*</c>.
    /// </summary>
    public void EnablePerceptualLoss(string weightsSource)
    {
        if (_model.Vgg is null)
        {
            throw new InvalidOperationException($"config '{_model.Config.Name}' has no VGG16 (UseVggAndGan is off); the perceptual loss needs it");
        }

        PerceptualLossEnabled = true;
        _warn($"perceptual loss on: VGG16 weights from {weightsSource}");
    }

    /// <summary>
    /// Runs until <see cref="CtVitTrainingOptions.Steps"/>; reports every <see cref="CtVitTrainingOptions.ProgressEvery"/>
    /// steps (the step's losses, <c>psnr</c> averaged and <c>codebook_usage</c> counted since the last report) and writes checkpoints.
    /// </summary>
    public Task<TrainingStep?> RunAsync(IProgress<TrainingStep>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Run(progress, cancellationToken), cancellationToken);

    private TrainingStep? Run(IProgress<TrainingStep>? progress, CancellationToken cancellationToken)
    {
        TrainingStep? last = null;
        double psnrSum = 0;
        int psnrCount = 0;
        while (Step < Options.Steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var stepResult = TrainStep();
            psnrSum += stepResult.Psnr;
            psnrCount++;
            if (Step % Options.ProgressEvery == 0 || Step == Options.Steps)
            {
                int used = _codesSeen.Count(x => x);
                last = (stepResult with { Psnr = psnrSum / psnrCount, CodebookUsage = (double)used / _codesSeen.Length }).ToTrainingStep(withCodebookUsage: true);
                progress?.Report(last);
                Array.Clear(_codesSeen);
                psnrSum = 0;
                psnrCount = 0;
            }

            if (Options.CheckpointPath is { } path && Options.CheckpointEvery > 0 && Step % Options.CheckpointEvery == 0)
            {
                SaveCheckpoint(path);
            }
        }

        if (Options.CheckpointPath is { } final)
        {
            SaveCheckpoint(final);
        }

        return last;
    }

    /// <summary>One optimizer step over BatchSize × GradientAccumulationSteps volumes of the trainer's dataset.</summary>
    public CtVitTrainingProgress TrainStep() => TrainStepOn(_data);

    /// <summary>One optimizer step over BatchSize × GradientAccumulationSteps volumes drawn from <paramref name="data"/>.</summary>
    public TrainingStep TrainStep(CtVolumeDataset data) => TrainStepOn(data).ToTrainingStep();

    public int SampleCount(CtVolumeDataset data) => data.Count;

    /// <summary>The autoencoder and discriminator weights (the frozen VGG16 is not exchanged).</summary>
    public Dictionary<string, Tensor> CopyWeights() => LocalTraining.CopyStateDict(_model, IsVggKey);

    public void LoadWeights(IReadOnlyDictionary<string, Tensor> weights) =>
        ReferenceWeights.Apply(_model, weights, IsVggKey, $"{Stage.Name} round weights");

    private static bool IsVggKey(string key) => key.StartsWith("vgg.", StringComparison.Ordinal);

    private CtVitTrainingProgress TrainStepOn(CtVolumeDataset data)
    {
        // Grad mode is per thread, and a no_grad scope that crossed an await elsewhere can leave a pool thread
        // with it off: a training step always runs with gradients on.
        using var gradients = enable_grad();
        _model.train();
        _model.Vgg?.eval();
        var lr = _schedule.Apply(_optimizer, Step);
        if (_discrOptimizer is not null)
        {
            _schedule.Apply(_discrOptimizer, Step);
        }

        _optimizer.zero_grad();
        _discrOptimizer?.zero_grad();
        bool adversarial = AdversarialLossActive;
        int accumulation = Options.GradientAccumulationSteps;
        double loss = 0, rec = 0, commit = 0, psnr = 0;
        double? perceptual = PerceptualLossEnabled ? 0 : null;
        double? gen = adversarial ? 0 : null;
        double? discrLoss = adversarial ? 0 : null;

        for (int micro = 0; micro < accumulation; micro++)
        {
            using var scope = NewDisposeScope();
            var indices = Enumerable.Range(0, Options.BatchSize).Select(_ => _random.Next(data.Count)).ToList();
            var video = data.Batch(indices, _device);                       // b 1 f s s
            Tensor recon, reconLoss, commitLoss, total;
            Tensor? perceptualLoss = null, genLoss = null;
            Tensor? realSlice = null, fakeSlice = null;
            using (Precision.Enter())
            {
                using var output = _model.forward(video);
                MarkCodes(output.Indices);
                recon = output.Reconstruction.to(float32);
                reconLoss = output.ReconstructionLoss.to(float32);
                commitLoss = output.CommitLoss.to(float32);
                total = reconLoss + commitLoss.squeeze();
                if (PerceptualLossEnabled || adversarial)
                {
                    var frames = PickSlices(video.shape[0], video.shape[2]);
                    realSlice = PickSlice(video, frames);                           // b 1 s s
                    fakeSlice = PickSlice(recon, frames);
                }

                if (PerceptualLossEnabled)
                {
                    var vgg = _model.Vgg!;
                    perceptualLoss = nn.functional.mse_loss(vgg.forward(fakeSlice!.expand(-1, 3, -1, -1)), vgg.forward(realSlice!.expand(-1, 3, -1, -1))).to(float32);
                    total = total + perceptualLoss;
                    perceptual += perceptualLoss.item<float>() / accumulation;
                }

                if (adversarial)
                {
                    // The generator term must not train the discriminator (the reference trainer zeroes the discriminator's
                    // gradients before its own pass): its parameters are frozen while this graph is built.
                    using var frozen = FreezeDiscriminator();
                    genLoss = -_model.Discr!.forward(fakeSlice!).to(float32).mean();
                    gen += genLoss.item<float>() / accumulation;
                }
            }

            if (genLoss is not null)
            {
                var anchor = perceptualLoss is null ? reconLoss : reconLoss + perceptualLoss;
                total = total + (genLoss * AdaptiveWeight(anchor, genLoss));
            }

            var microLoss = total / accumulation;
            (_scaler?.ScaleLoss(microLoss) ?? microLoss).backward();

            if (adversarial)
            {
                // Discriminator: hinge loss on detached reconstructions + gradient penalty on real slices, in float32.
                var discr = _model.Discr!;
                var real = realSlice!.detach().to(float32).requires_grad_(true);
                var realLogits = discr.forward(real);
                var fakeLogits = discr.forward(fakeSlice!.detach().to(float32));
                var hinge = (nn.functional.relu(1 + fakeLogits) + nn.functional.relu(1 - realLogits)).mean();
                var gp = GradientPenalty(real, realLogits) * Options.GradientPenaltyWeight;
                var d = hinge + gp;
                (d / accumulation).backward();
                discrLoss += d.item<float>() / accumulation;
            }

            loss += total.item<float>() / accumulation;
            rec += reconLoss.item<float>() / accumulation;
            commit += commitLoss.sum().item<float>() / accumulation;
            psnr += Psnr(recon.detach(), video) / accumulation;
        }

        bool stepped = true;
        if (_scaler is not null)
        {
            // Unscale, skip the step on inf/NaN gradients, adapt the scale (Micikevicius et al. 2018, §3.2).
            stepped = _scaler.Step(_optimizer, _model.AutoencoderParameters());
        }
        else
        {
            _optimizer.step();
        }

        if (adversarial)
        {
            _discrOptimizer!.step();
        }

        _model.Discr?.zero_grad();
        Step++;
        return new CtVitTrainingProgress(Step, Options.Steps, loss, rec, commit, perceptual, gen, discrLoss, psnr, 0)
        {
            LearningRate = lr,
            Precision = Precision.Name,
            LossScale = _scaler?.Scale,
            StepSkipped = !stepped,
        };
    }

    /// <summary>Turns off requires_grad on the discriminator until disposed.</summary>
    private DiscriminatorFreeze FreezeDiscriminator() => new(_model.Discr!.parameters().ToList());

    private readonly struct DiscriminatorFreeze : IDisposable
    {
        private readonly List<TorchSharp.Modules.Parameter> _parameters;

        public DiscriminatorFreeze(List<TorchSharp.Modules.Parameter> parameters)
        {
            _parameters = parameters;
            foreach (var p in parameters)
            {
                p.requires_grad = false;
            }
        }

        public void Dispose()
        {
            foreach (var p in _parameters)
            {
                p.requires_grad = true;
            }
        }
    }

    /// <summary>Writes the model (without the frozen VGG), both optimizer states and the step.</summary>
    public void SaveCheckpoint(string path)
    {
        var sections = new Dictionary<string, byte[]> { ["optimizer"] = Serialize(_optimizer) };
        if (_discrOptimizer is not null)
        {
            sections["discr_optimizer"] = Serialize(_discrOptimizer);
        }

        if (_scaler is not null)
        {
            sections["loss_scaler"] = _scaler.Serialize();
        }

        ModelCheckpoint.Save(path, _model, new CheckpointInfo { Stage = Stage.Name, Config = _model.Config.Name, Step = Step }, sections, IsVggKey);
    }

    /// <summary>Restores weights, EMA codebook, optimizer states and step from a checkpoint written by <see cref="SaveCheckpoint"/>.</summary>
    public void Resume(string path)
    {
        using var checkpoint = ModelCheckpoint.Read(path);
        if (!Stage.Is(checkpoint.Info.Stage) || checkpoint.Info.Config != _model.Config.Name)
        {
            throw new InvalidOperationException(
                $"{path} is a '{checkpoint.Info.Stage}' checkpoint of config '{checkpoint.Info.Config}'; resuming needs stage '{Stage.Name}', config '{_model.Config.Name}'");
        }

        ReferenceWeights.Apply(_model, checkpoint.State, IsVggKey, path);
        Deserialize(_optimizer, checkpoint.Sections, "optimizer", path);
        if (_discrOptimizer is not null)
        {
            Deserialize(_discrOptimizer, checkpoint.Sections, "discr_optimizer", path);
        }

        if (_scaler is not null && checkpoint.Sections.TryGetValue("loss_scaler", out var scalerState))
        {
            _scaler.Restore(scalerState);
        }

        Step = checkpoint.Info.Step;
    }

    /// <summary>PSNR in dB for volumes in [-1, 1] (peak-to-peak 2): 10·log10(2² / MSE).</summary>
    public static double Psnr(Tensor reconstruction, Tensor target)
    {
        using var scope = NewDisposeScope();
        double mse = nn.functional.mse_loss(reconstruction.clamp(-1, 1), target).item<float>();
        return 10 * Math.Log10(4 / Math.Max(mse, 1e-12));
    }

    /// <summary>Mean PSNR and codebook usage (share of codes used at least once) over a dataset, in eval mode.</summary>
    public static CtVitEvaluation Evaluate(CtVit model, CtVolumeDataset data, Device device, int batchSize = 4)
    {
        model.eval();
        using var noGrad = no_grad();
        var seen = new bool[model.Config.CodebookSize];
        double mseSum = 0;
        for (int start = 0; start < data.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var idx = Enumerable.Range(start, Math.Min(batchSize, data.Count - start)).ToList();
            var video = data.Batch(idx, device);
            using var output = model.forward(video);
            mseSum += nn.functional.mse_loss(output.Reconstruction.clamp(-1, 1), video, nn.Reduction.Sum).item<float>();
            foreach (var code in output.Indices.cpu().data<long>())
            {
                seen[code] = true;
            }
        }

        double mse = mseSum / (data.Count * (double)data[0].numel());
        int used = seen.Count(x => x);
        return new CtVitEvaluation(10 * Math.Log10(4 / Math.Max(mse, 1e-12)), mse, (double)used / seen.Length, used);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _discrOptimizer?.Dispose();
    }

    private void MarkCodes(Tensor indices)
    {
        using var cpu = indices.cpu();
        foreach (var code in cpu.data<long>())
        {
            _codesSeen[code] = true;
        }
    }

    private long[] PickSlices(long batch, long frames) =>
        [.. Enumerable.Range(0, (int)batch).Select(_ => (long)_random.Next((int)frames))];

    /// <summary>(b, c, f, h, w) → (b, c, h, w) taking slice frames[i] of sample i.</summary>
    private static Tensor PickSlice(Tensor video, long[] frames)
    {
        var slices = frames.Select((f, i) => video[i, .., f]).ToArray();
        return stack(slices);
    }

    /// <summary>VQGAN adaptive weight λ = ‖∇_W L_rec‖ / (‖∇_W L_gan‖ + 1e-8), W the last decoder layer, clamped and detached.</summary>
    private Tensor AdaptiveWeight(Tensor reconstructionLoss, Tensor generatorLoss)
    {
        var w = _model.LastDecoderWeight;
        var gRec = autograd.grad([reconstructionLoss], [w], retain_graph: true)[0].detach().norm();
        var gGen = autograd.grad([generatorLoss], [w], retain_graph: true)[0].detach().norm();
        return (gRec / (gGen + 1e-8)).clamp(max: Options.MaxAdaptiveWeight).detach();
    }

    /// <summary>Gradient penalty (‖∇_x D(x)‖₂ − 1)² on real slices (Gulrajani et al. 2017, eq. 3 form, as the reference).</summary>
    private static Tensor GradientPenalty(Tensor images, Tensor logits)
    {
        var gradients = autograd.grad([logits], [images], [ones_like(logits)], retain_graph: true, create_graph: true)[0];
        return (gradients.reshape(gradients.shape[0], -1).norm(1, false, 2) - 1).pow(2).mean();
    }

    private static byte[] Serialize(Adam optimizer)
    {
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            optimizer.save_state_dict(writer);
        }

        return memory.ToArray();
    }

    private static void Deserialize(Adam optimizer, IReadOnlyDictionary<string, byte[]> sections, string name, string path)
    {
        if (!sections.TryGetValue(name, out var bytes))
        {
            throw new CheckpointFormatException($"{path} has no '{name}' section: it is not a training checkpoint (it cannot be resumed, only loaded)");
        }

        using var reader = new BinaryReader(new MemoryStream(bytes));
        optimizer.load_state_dict(reader);
    }
}
