using GenerateCT.Model.CtVit;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class CtVitShapeTests(ITestOutputHelper output)
{
    [Fact]
    public void Paper_config_turns_a_201x128x128_volume_into_a_101x8x8_token_grid()
    {
        // The autoencoder of the paper config; vgg/discr are training-only losses and do not take part.
        var config = CtVitConfig.Paper with { UseVggAndGan = false };
        using var scope = NewDisposeScope();
        manual_seed(0);
        using var model = new CtVit.CtVit(config);
        model.eval();
        using var noGrad = no_grad();
        var volume = rand([1, 1, 201, 128, 128]) * 2 - 1;

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var indices = model.EncodeToIndices(volume); // patch embedding, encoder transformers, VQ
        output.WriteLine($"paper encode 201×128×128 on {TorchDevice.Describe(CPU)}: {watch.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(new long[] { 1, 101, 8, 8 }, indices.shape);
        Assert.Equal((101L, 8L, 8L), config.TokenGrid(201));
        Assert.True(indices.max().item<long>() < config.CodebookSize);
    }

    [Theory]
    [InlineData(9, 5)]
    [InlineData(17, 9)]
    [InlineData(33, 17)]
    public void One_tiny_model_encodes_and_decodes_any_1_plus_2k_slices(int slices, int tokenSlices)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        model.eval();
        using var noGrad = no_grad();
        var volume = rand([2, 1, slices, 32, 32]) * 2 - 1;

        var indices = model.EncodeToIndices(volume);
        var recon = model.DecodeFromCodebookIndices(indices);

        Assert.Equal(new long[] { 2, tokenSlices, 4, 4 }, indices.shape);
        Assert.Equal(volume.shape, recon.shape);
        Assert.True(recon.isfinite().all().item<bool>());
    }

    [Fact]
    public void A_slice_count_that_is_not_1_plus_2k_is_refused_with_the_rule()
    {
        using var scope = NewDisposeScope();
        using var model = new CtVit.CtVit(CtVitConfig.Tiny);
        var ex = Assert.Throws<ArgumentException>(() => model.EncodeToIndices(zeros([1, 1, 8, 32, 32])));
        Assert.Contains("1 + 2·k", ex.Message);
    }

    [Fact]
    public void CausalTemporal_tokens_of_earlier_slices_ignore_a_change_in_a_later_slice()
    {
        using var scope = NewDisposeScope();
        const int changedSlice = 9; // slices 9–10 form token slice 5; token slices 0–4 cover slices 0–8
        var volume = rand([1, 1, 17, 32, 32]) * 2 - 1;
        var changed = volume.clone();
        changed[.., .., changedSlice] = rand([1, 1, 32, 32]) * 2 - 1;

        double EarlierTokenChange(CtVitConfig config)
        {
            manual_seed(3);
            using var model = new CtVit.CtVit(config);
            model.eval();
            using var noGrad = no_grad();
            var a = model.Encode(model.EmbedPatches(volume));
            var b = model.Encode(model.EmbedPatches(changed));
            Assert.True((a.narrow(1, 5, 4) - b.narrow(1, 5, 4)).abs().max().item<float>() > 1e-3, "the change must reach its own and later token slices");
            return (a.narrow(1, 0, 5) - b.narrow(1, 0, 5)).abs().max().item<float>();
        }

        double causal = EarlierTokenChange(CtVitConfig.Tiny with { CausalTemporal = true });
        double released = EarlierTokenChange(CtVitConfig.Tiny);
        output.WriteLine($"max change of token slices 0–4: CausalTemporal {causal:E2}, released {released:E2}");

        Assert.Equal(0, causal);
        Assert.True(released > 1e-3, "the released (non-causal) model is expected to leak the change backwards");
    }
}
