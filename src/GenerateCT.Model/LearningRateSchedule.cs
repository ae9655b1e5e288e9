namespace GenerateCT.Model;

/// <summary>
/// The learning-rate schedule the trainers share: linear warm-up over <paramref name="WarmupSteps"/>
/// optimiser steps, then a half-cosine from the peak to 0 that ends at step <paramref name="DecayEndStep"/>
/// (null: constant after the warm-up).
/// </summary>
public sealed record LearningRateSchedule(double Peak, long WarmupSteps = 0, long? DecayEndStep = null)
{
    /// <summary>Learning rate of optimiser step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps)
        {
            return Peak * (step + 1) / WarmupSteps;
        }

        if (DecayEndStep is not { } end)
        {
            return Peak;
        }

        var decaySteps = Math.Max(1, end - WarmupSteps);
        var progress = Math.Clamp((step - WarmupSteps) / (double)decaySteps, 0, 1);
        return Peak * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>Sets every parameter group of <paramref name="optimizer"/> to the rate of <paramref name="step"/>; returns it.</summary>
    public double Apply(TorchSharp.Modules.OptimizerHelper optimizer, long step)
    {
        var lr = At(step);
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }

        return lr;
    }
}
