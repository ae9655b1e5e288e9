using GenerateCT.Federation.Weights;
using GenerateCT.Imaging.Phantoms;
using GenerateCT.Model.Pipeline;
using GenerateCT.Model.Training;
using GenerateCT.Node.Federation;
using GenerateCT.Testing;

namespace GenerateCT.Node.Tests;

/// <summary>A bundle's stage weights become round weights and back, exactly, and a derived bundle loads.</summary>
public sealed class BundleWeightsTests : IAsyncLifetime
{
    private readonly Scratch _dir = new("gct-bundle-weights");

    private string Bundle => _dir.Combine("bundle");

    public async Task InitializeAsync()
    {
        await TinyBundle.TrainAsync(Bundle, cases: 2, size: 64, steps: 1, seed: 3, findings: false);
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public void Every_stage_reads_as_float_weights_in_state_dict_order()
    {
        foreach (var stage in ModelStage.All)
        {
            var weights = BundleWeights.ReadStage(Bundle, stage);
            Assert.True(weights.Count > 3, $"{stage}: {weights.Count} tensors");
            Assert.True(weights.ElementCount > 1000, $"{stage}: {weights.ElementCount} elements");
            Assert.Equal(weights.Count, weights.Select(w => w.Name).Distinct().Count());
        }
    }

    [Fact]
    public void A_derived_bundle_carries_the_new_stage_weights_and_keeps_the_others()
    {
        var baseWeights = BundleWeights.ReadStage(Bundle, ModelStage.MaskGit);
        var changed = new WeightSet(baseWeights.Select(w => new WeightTensor(w.Name, w.Shape, [.. w.Data.Select(v => v + 0.25f)])));
        var derived = _dir.Combine("derived");

        BundleWeights.WriteDerivedBundle(Bundle, ModelStage.MaskGit, changed, derived, "round 1");

        var read = BundleWeights.ReadStage(derived, ModelStage.MaskGit);
        Assert.Equal(changed.ComputeVersionId(), read.ComputeVersionId());
        Assert.NotEqual(baseWeights.ComputeVersionId(), read.ComputeVersionId());
        Assert.Equal(BundleWeights.ReadStage(Bundle, ModelStage.CtVit).ComputeVersionId(), BundleWeights.ReadStage(derived, ModelStage.CtVit).ComputeVersionId());
        Assert.Equal(BundleWeights.ReadStage(Bundle, ModelStage.SuperRes).ComputeVersionId(), BundleWeights.ReadStage(derived, ModelStage.SuperRes).ComputeVersionId());
        Assert.Contains(ModelBundle.ReadManifest(derived).Components, c => c.Stage == "maskgit" && c.Source == "round 1");
        using var loaded = ModelBundle.Load(derived, TorchSharp.torch.CPU); // every hash and key checked
        Assert.False(Directory.Exists(derived + ".partial"));
    }

    [Fact]
    public void Weights_of_another_layout_are_refused_and_leave_no_bundle()
    {
        var baseWeights = BundleWeights.ReadStage(Bundle, ModelStage.MaskGit);
        var first = baseWeights[0];
        var misShaped = new WeightSet(baseWeights.Select(w => w == first ? new WeightTensor(w.Name, [w.Data.Length], w.Data) : w));
        var derived = _dir.Combine("refused");

        var shape = Assert.Throws<ArgumentException>(() => BundleWeights.WriteDerivedBundle(Bundle, ModelStage.MaskGit, misShaped, derived, "bad"));
        Assert.Contains(first.Name, shape.Message);
        var missing = new WeightSet(baseWeights.Skip(1));
        Assert.Throws<ArgumentException>(() => BundleWeights.WriteDerivedBundle(Bundle, ModelStage.MaskGit, missing, derived, "bad"));
        Assert.False(Directory.Exists(derived));
    }

    [Fact]
    public void Tensors_round_trip_through_weights()
    {
        var weights = BundleWeights.ReadStage(Bundle, ModelStage.CtVit);
        var tensors = BundleWeights.ToTensors(weights);
        try
        {
            Assert.Equal(weights.ComputeVersionId(), BundleWeights.FromTensors(tensors).ComputeVersionId());
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
    }
}
