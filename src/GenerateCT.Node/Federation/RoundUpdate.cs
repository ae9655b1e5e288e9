using GenerateCT.Federation;
using GenerateCT.Federation.Weights;
using GenerateCT.Model.Training;

namespace GenerateCT.Node.Federation;

/// <summary>What a node sends for a round: its trained stage weights minus the round's base weights.</summary>
internal static class RoundUpdate
{
    /// <summary>
    /// delta = result − base, tensor by tensor, for <paramref name="stage"/>: the base read from the round's base
    /// bundle, the result from the fine-tuning job's checkpoint. Adding the delta to the base gives the result exactly
    /// up to float rounding. A result whose layout differs from the base is a <see cref="FederationException"/>.
    /// </summary>
    public static WeightSet Delta(string baseBundle, ModelStage stage, string resultCheckpoint) =>
        BundleWeights.ReadCheckpoint(resultCheckpoint).DeltaFrom(BundleWeights.ReadStage(baseBundle, stage));
}
