using GenerateCT.Model.CtVit;
using GenerateCT.Model.Precision;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public sealed class MixedPrecisionTests(ITestOutputHelper output)
{
    [Fact]
    public void Loss_scaler_skips_the_step_and_halves_the_scale_when_a_gradient_is_infinite()
    {
        using var layer = nn.Linear(4, 3);
        var parameters = layer.parameters().ToList();
        using var optimizer = optim.SGD(parameters, 0.1);
        var before = parameters.Select(p => p.detach().clone()).ToList();
        var scaler = new DynamicLossScaler(initialScale: 1024, growthInterval: 3);

        SetGradients(parameters, 1f);
        using (no_grad())
        {
            parameters[0].grad![1, 2] = float.PositiveInfinity;
        }

        bool stepped = scaler.Step(optimizer, parameters);

        Assert.False(stepped);
        Assert.Equal(512, scaler.Scale);
        Assert.Equal(1, scaler.SkippedSteps);
        Assert.Equal(0, scaler.GoodSteps);
        using var noGrad = no_grad();
        Assert.All(parameters.Zip(before), p => Assert.Equal(0f, (p.First - p.Second).abs().max().item<float>()));
    }

    [Fact]
    public void Loss_scaler_skips_the_step_on_nan_gradients_too()
    {
        using var layer = nn.Linear(2, 2);
        var parameters = layer.parameters().ToList();
        using var optimizer = optim.SGD(parameters, 0.1);
        var scaler = new DynamicLossScaler(initialScale: 8, growthInterval: 1);
        SetGradients(parameters, 1f);
        using (no_grad())
        {
            parameters[1].grad![0] = float.NaN;
        }

        Assert.False(scaler.Step(optimizer, parameters));
        Assert.Equal(4, scaler.Scale);
    }

    [Fact]
    public void Loss_scaler_unscales_gradients_steps_and_doubles_the_scale_after_the_growth_interval()
    {
        using var layer = nn.Linear(4, 3);
        var parameters = layer.parameters().ToList();
        using var optimizer = optim.SGD(parameters, 0.5);
        var scaler = new DynamicLossScaler(initialScale: 8, growthInterval: 3);

        for (int step = 1; step <= 3; step++)
        {
            var before = parameters.Select(p => p.detach().clone()).ToList();
            optimizer.zero_grad();
            using (var x = ones(2, 4))
            {
                // The scaled loss's gradients are Scale × the true ones; the scaler must divide them back.
                scaler.ScaleLoss(layer.forward(x).sum()).backward();
            }

            double scaleUsed = scaler.Scale;
            Assert.True(scaler.Step(optimizer, parameters));
            using var noGrad = no_grad();
            // d(sum(W x + b))/db = batch size 2 for every bias element, whatever the scale was.
            Assert.Equal(2f, parameters[1].grad!.max().item<float>(), 5);
            Assert.Equal(2f, parameters[1].grad!.min().item<float>(), 5);
            // SGD moved the bias by lr × true gradient = 1.
            Assert.Equal(-1f, (parameters[1] - before[1]).max().item<float>(), 5);
            output.WriteLine($"step {step}: scale used {scaleUsed}, now {scaler.Scale}, clean steps {scaler.GoodSteps}");
            Assert.Equal(step < 3 ? 8 : 16, scaler.Scale);
        }

        Assert.Equal(0, scaler.GoodSteps);
        Assert.Equal(0, scaler.SkippedSteps);
    }

    [Fact]
    public void Loss_scaler_state_survives_serialisation()
    {
        var scaler = new DynamicLossScaler(initialScale: 64, growthInterval: 10);
        scaler.Update(finite: false);
        scaler.Update(finite: true);
        var copy = new DynamicLossScaler();
        copy.Restore(scaler.Serialize());
        Assert.Equal((32.0, 1, 0L), (copy.Scale, copy.GoodSteps, copy.SkippedSteps));
    }

    [Fact]
    public void Auto_precision_on_cpu_resolves_to_fp32()
    {
        var resolved = MixedPrecision.Resolve(TrainingPrecision.Auto, CPU);
        Assert.Equal(TrainingPrecision.Fp32, resolved.Mode);
        Assert.Null(resolved.AutocastType);
        Assert.Null(resolved.Enter());
        Assert.Equal("fp32", resolved.Name);
    }

    [Theory]
    [InlineData("auto", TrainingPrecision.Auto)]
    [InlineData("FP32", TrainingPrecision.Fp32)]
    [InlineData("bf16", TrainingPrecision.Bf16)]
    [InlineData("fp16", TrainingPrecision.Fp16)]
    public void Precision_names_parse(string name, TrainingPrecision expected) => Assert.Equal(expected, MixedPrecision.Parse(name));

    [Fact]
    public void Unknown_precision_name_is_refused_with_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => MixedPrecision.Parse("fp8"));
        Assert.Contains("auto, fp32, bf16, fp16", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Autocast_region_runs_matmul_in_bfloat16_on_cpu_keeps_float32_weights_and_restores_the_previous_state()
    {
        using var layer = nn.Linear(8, 4);
        using var x = randn(3, 8);
        Assert.False(Autocast.IsEnabled(DeviceType.CPU));
        using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
        {
            Assert.True(Autocast.IsEnabled(DeviceType.CPU));
            using var y = layer.forward(x);
            Assert.Equal(ScalarType.BFloat16, y.dtype);
            using (Autocast.Disabled(DeviceType.CPU))
            {
                Assert.False(Autocast.IsEnabled(DeviceType.CPU));
                using var full = layer.forward(x);
                Assert.Equal(ScalarType.Float32, full.dtype);
            }

            Assert.True(Autocast.IsEnabled(DeviceType.CPU));
        }

        Assert.False(Autocast.IsEnabled(DeviceType.CPU));
        Assert.Equal(ScalarType.Float32, layer.weight!.dtype);
        using var after = layer.forward(x);
        Assert.Equal(ScalarType.Float32, after.dtype);
    }

    [Fact]
    public void Bf16_training_on_cpu_runs_the_forward_in_bfloat16_gives_a_finite_loss_and_updates_float32_weights()
    {
        using var data = new CtVolumeDataset(CtVitTrainingTests.TrainingVolumes(4, seed: 11), CtVitConfig.Tiny);
        manual_seed(5);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var before = model.AutoencoderParameters().Where(p => p.numel() > 0).Select(p => p.detach().clone()).ToList();
        var log = new List<string>();
        var options = new CtVitTrainingOptions { LearningRate = 1e-3, BatchSize = 2, Steps = 2, Precision = TrainingPrecision.Bf16 };
        using var trainer = new CtVitTrainer(model, data, options, CPU, log.Add);

        var step = trainer.TrainStep();
        output.WriteLine($"{string.Join("; ", log)} → loss {step.Loss:F4}, PSNR {step.Psnr:F2} dB ({step.Precision})");

        Assert.Equal("bf16", step.Precision);
        Assert.Contains(log, l => l.StartsWith("precision bf16", StringComparison.Ordinal));
        Assert.True(double.IsFinite(step.Loss) && step.Loss > 0);
        using var noGrad = no_grad();
        var after = model.AutoencoderParameters().Where(p => p.numel() > 0).ToList();
        Assert.All(after, p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.Contains(after.Zip(before), p => (p.First - p.Second).abs().max().item<float>() > 0);
        using (trainer.Precision.Enter())
        using (var video = data.Batch([0], CPU))
        using (var pass = model.forward(video))
        {
            Assert.Equal(ScalarType.BFloat16, pass.Reconstruction.dtype); // the decoder really ran in bfloat16
        }
    }

    [Fact]
    public void Fp16_training_on_cpu_scales_the_loss_and_skips_a_step_whose_gradients_overflow()
    {
        using var data = new CtVolumeDataset(CtVitTrainingTests.TrainingVolumes(2, seed: 12), CtVitConfig.Tiny);
        manual_seed(6);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var options = new CtVitTrainingOptions
        {
            LearningRate = 1e-3, BatchSize = 1, Steps = 3, Precision = TrainingPrecision.Fp16, InitialLossScale = 1e38, LossScaleGrowthInterval = 1000,
        };
        using var trainer = new CtVitTrainer(model, data, options, CPU);
        var before = model.AutoencoderParameters().Where(p => p.numel() > 0).Select(p => p.detach().clone()).ToList();

        // 1e38 × loss overflows float16 (max 65504) in backward: the step must be skipped and the scale backed off.
        var first = trainer.TrainStep();
        output.WriteLine($"step 1: loss {first.Loss:F4}, skipped {first.StepSkipped}, scale now {first.LossScale:E1}");
        Assert.Equal("fp16", first.Precision);
        Assert.True(first.StepSkipped);
        Assert.Equal(5e37, first.LossScale!.Value, 1e30);
        using (no_grad())
        {
            Assert.All(model.AutoencoderParameters().Where(p => p.numel() > 0).Zip(before), p => Assert.Equal(0f, (p.First - p.Second).abs().max().item<float>()));
        }

        // Back off until the scaled gradients fit, then steps are taken and the weights move.
        trainer.LossScaler!.Restore(new DynamicLossScaler(initialScale: 1024).Serialize());
        var second = trainer.TrainStep();
        output.WriteLine($"step 2: loss {second.Loss:F4}, skipped {second.StepSkipped}, scale {second.LossScale}");
        Assert.False(second.StepSkipped);
        Assert.True(double.IsFinite(second.Loss));
        using var noGrad = no_grad();
        Assert.Contains(model.AutoencoderParameters().Where(p => p.numel() > 0).Zip(before), p => (p.First - p.Second).abs().max().item<float>() > 0);
    }

    [Fact]
    public void Fp16_checkpoint_carries_the_loss_scale_into_the_resumed_run()
    {
        using var data = new CtVolumeDataset(CtVitTrainingTests.TrainingVolumes(2, seed: 13), CtVitConfig.Tiny);
        var path = Path.Combine(Path.GetTempPath(), $"gct-fp16-{Guid.NewGuid():N}.gct");
        try
        {
            var options = new CtVitTrainingOptions { LearningRate = 1e-3, BatchSize = 1, Steps = 1, Precision = TrainingPrecision.Fp16, InitialLossScale = 1e38 };
            manual_seed(7);
            using (var model = new CtVit.CtVit(CtVitConfig.Tiny))
            using (var trainer = new CtVitTrainer(model, data, options, CPU))
            {
                trainer.TrainStep(); // overflows: the scale backs off to 5e37
                trainer.SaveCheckpoint(path);
            }

            using var resumedModel = new CtVit.CtVit(CtVitConfig.Tiny);
            using var resumed = new CtVitTrainer(resumedModel, data, options with { InitialLossScale = 1024 }, CPU);
            resumed.Resume(path);
            Assert.Equal(5e37, resumed.LossScaler!.Scale, 1e30);
            Assert.Equal(1, resumed.LossScaler.SkippedSteps);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void SetGradients(IEnumerable<TorchSharp.Modules.Parameter> parameters, float value)
    {
        foreach (var p in parameters)
        {
            p.grad = full_like(p, value);
        }
    }
}
