using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Precision;

/// <summary>Numeric precision of a training forward pass. Master weights and optimizer state are float32 in every mode.</summary>
public enum TrainingPrecision
{
    /// <summary>bf16 autocast on CUDA, float32 on CPU (where reduced precision is slower, not faster).</summary>
    Auto,

    /// <summary>Everything in float32.</summary>
    Fp32,

    /// <summary>bfloat16 autocast; float32's exponent range, so no loss scaling.</summary>
    Bf16,

    /// <summary>float16 autocast with dynamic loss scaling (<see cref="DynamicLossScaler"/>).</summary>
    Fp16,
}

/// <summary>The precision a trainer actually runs with on its device, after resolving <see cref="TrainingPrecision.Auto"/>.</summary>
public sealed record ResolvedPrecision(TrainingPrecision Mode, DeviceType Device)
{
    /// <summary>The autocast type, or null for float32.</summary>
    public ScalarType? AutocastType => Mode switch
    {
        TrainingPrecision.Bf16 => ScalarType.BFloat16,
        TrainingPrecision.Fp16 => ScalarType.Float16,
        _ => null,
    };

    /// <summary>True for float16, which needs loss scaling.</summary>
    public bool NeedsLossScaling => Mode == TrainingPrecision.Fp16;

    /// <summary>Short name for logs and progress lines: fp32, bf16 or fp16.</summary>
    public string Name => Mode.ToString().ToLowerInvariant();

    /// <summary>One line for the training log.</summary>
    public string Describe() => Mode switch
    {
        TrainingPrecision.Bf16 => $"precision bf16: autocast on {Device.ToString().ToLowerInvariant()}, float32 master weights",
        TrainingPrecision.Fp16 => $"precision fp16: autocast on {Device.ToString().ToLowerInvariant()} with dynamic loss scaling, float32 master weights",
        _ => "precision fp32",
    };

    /// <summary>Enters the autocast region for a forward pass (null for float32: nothing to enter).</summary>
    public Autocast? Enter() => AutocastType is { } type ? new Autocast(Device, type) : null;
}

/// <summary>Parses and resolves <see cref="TrainingPrecision"/>.</summary>
public static class MixedPrecision
{
    public static IReadOnlyList<string> Names { get; } = ["auto", "fp32", "bf16", "fp16"];

    /// <summary>"auto", "fp32", "bf16" or "fp16" (case-insensitive).</summary>
    public static TrainingPrecision Parse(string name) => name.ToLowerInvariant() switch
    {
        "auto" => TrainingPrecision.Auto,
        "fp32" or "float32" => TrainingPrecision.Fp32,
        "bf16" or "bfloat16" => TrainingPrecision.Bf16,
        "fp16" or "float16" or "half" => TrainingPrecision.Fp16,
        _ => throw new ArgumentException($"unknown precision '{name}'; use one of: {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// What <paramref name="requested"/> means on <paramref name="device"/>: auto is bf16 on CUDA and fp32 on
    /// CPU; an explicit reduced precision is checked once with a real autocast matmul on the device and
    /// refused with <see cref="NotSupportedException"/> when the device or libtorch cannot do it (never
    /// silently downgraded).
    /// </summary>
    public static ResolvedPrecision Resolve(TrainingPrecision requested, Device device)
    {
        var type = device.type;
        var mode = requested switch
        {
            TrainingPrecision.Auto => type == DeviceType.CUDA && Autocast.IsAvailable ? TrainingPrecision.Bf16 : TrainingPrecision.Fp32,
            _ => requested,
        };
        var resolved = new ResolvedPrecision(mode, type);
        if (resolved.AutocastType is { } reduced)
        {
            Probe(resolved, reduced, device);
        }

        return resolved;
    }

    private static void Probe(ResolvedPrecision precision, ScalarType reduced, Device device)
    {
        string what = $"{precision.Name} training on {device}";
        if (!Autocast.IsAvailable)
        {
            throw new NotSupportedException($"{what} needs libtorch autocast, which this libtorch does not export; use --precision fp32");
        }

        try
        {
            using var scope = NewDisposeScope();
            var a = ones(8, 8, device: device, requires_grad: true);
            Tensor product;
            using (precision.Enter())
            {
                product = a.matmul(a);
            }

            if (product.dtype != reduced)
            {
                throw new NotSupportedException($"{what} is not supported: libtorch autocast left a matmul in {product.dtype} on this device; use --precision fp32");
            }

            product.sum().backward();
            if (a.grad is not { } g || g.dtype != ScalarType.Float32 || !g.isfinite().all().item<bool>())
            {
                throw new NotSupportedException($"{what} is not supported: the backward pass did not give finite float32 gradients; use --precision fp32");
            }
        }
        catch (ExternalException e)
        {
            throw new NotSupportedException($"{what} is not supported by libtorch on this device ({e.Message.Split('\n')[0]}); use --precision fp32", e);
        }
    }
}
