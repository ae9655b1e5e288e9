using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenerateCT.Model.Precision;

/// <summary>
/// Dynamic loss scaling for float16 training (Micikevicius et al. 2018, "Mixed Precision Training", §3.2;
/// the policy of PyTorch's GradScaler): the loss is multiplied by S before backward so small float16
/// gradients do not flush to zero; before the optimizer step the float32 master gradients are divided
/// by S and checked. A step with any inf/NaN gradient is skipped and S is multiplied by the back-off
/// factor; after <see cref="GrowthInterval"/> clean steps in a row S is multiplied by the growth factor.
/// </summary>
public sealed class DynamicLossScaler
{
    public DynamicLossScaler(double initialScale = 65536, double growthFactor = 2, double backoffFactor = 0.5, int growthInterval = 2000)
    {
        if (initialScale <= 0 || growthFactor <= 1 || backoffFactor <= 0 || backoffFactor >= 1 || growthInterval < 1)
        {
            throw new ArgumentException("loss scaler needs scale > 0, growth factor > 1, 0 < back-off < 1 and growth interval ≥ 1");
        }

        Scale = initialScale;
        GrowthFactor = growthFactor;
        BackoffFactor = backoffFactor;
        GrowthInterval = growthInterval;
    }

    /// <summary>The current loss scale S.</summary>
    public double Scale { get; private set; }

    public double GrowthFactor { get; }

    public double BackoffFactor { get; }

    public int GrowthInterval { get; }

    /// <summary>Clean steps since the scale last changed.</summary>
    public int GoodSteps { get; private set; }

    /// <summary>Optimizer steps skipped because of inf/NaN gradients.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>loss × S, to call backward on.</summary>
    public Tensor ScaleLoss(Tensor loss) => loss * Scale;

    /// <summary>
    /// Divides the gradients of <paramref name="parameters"/> by S, then steps <paramref name="optimizer"/>
    /// unless a gradient is inf/NaN, and updates S. Returns true when the step was taken. One host
    /// synchronisation per call (the inf check), as GradScaler.step.
    /// </summary>
    public bool Step(optim.Optimizer optimizer, IEnumerable<Parameter> parameters)
    {
        bool finite = Unscale(parameters);
        if (finite)
        {
            optimizer.step();
        }
        else
        {
            SkippedSteps++;
        }

        Update(finite);
        return finite;
    }

    /// <summary>Divides every gradient by S in place; true when all of them are finite afterwards.</summary>
    public bool Unscale(IEnumerable<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double inverse = 1.0 / Scale;
        Tensor? nonFinite = null;
        foreach (var p in parameters)
        {
            var g = p.grad;
            if (g is null)
            {
                continue;
            }

            g.mul_(inverse);
            // Sum of |g| is inf/NaN exactly when some element is: one reduction per tensor, no host sync.
            var bad = g.abs().sum().isfinite().logical_not();
            nonFinite = nonFinite is null ? bad : nonFinite.logical_or(bad);
        }

        return nonFinite is null || !nonFinite.item<bool>();
    }

    /// <summary>The scale policy after a step: back off on overflow, grow after GrowthInterval clean steps.</summary>
    public void Update(bool finite)
    {
        if (!finite)
        {
            Scale *= BackoffFactor;
            GoodSteps = 0;
            return;
        }

        GoodSteps++;
        if (GoodSteps >= GrowthInterval)
        {
            Scale *= GrowthFactor;
            GoodSteps = 0;
        }
    }

    /// <summary>Scale, clean-step count and skipped-step count, for checkpoints.</summary>
    public byte[] Serialize()
    {
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory))
        {
            writer.Write(Scale);
            writer.Write(GoodSteps);
            writer.Write(SkippedSteps);
        }

        return memory.ToArray();
    }

    /// <summary>Restores what <see cref="Serialize"/> wrote.</summary>
    public void Restore(byte[] state)
    {
        using var reader = new BinaryReader(new MemoryStream(state));
        Scale = reader.ReadDouble();
        GoodSteps = reader.ReadInt32();
        SkippedSteps = reader.ReadInt64();
    }
}
