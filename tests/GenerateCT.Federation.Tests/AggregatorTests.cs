using GenerateCT.Federation.Aggregation;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;

namespace GenerateCT.Federation.Tests;

/// <summary>
/// Hand-computed round: base a = [1, 2], b = [[0, 1], [2, 3]]; node 1 (1 sample) sends Δa = [1, 0],
/// Δb = [[4, 0], [0, 0]]; node 2 (3 samples) sends Δa = [−1, 2], Δb = [[0, 4], [0, −4]].
/// Weighted mean Δ = (1·Δ₁ + 3·Δ₂) / 4: a = [−0.5, 1.5], b = [[1, 3], [0, −3]].
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public sealed class AggregatorTests : IDisposable
{
    private readonly Scratch _dir = new("gct-aggregate");

    public void Dispose() => _dir.Dispose();

    private static WeightSet Base => new([TestWeights.Tensor("a", [2], 1, 2), TestWeights.Tensor("b", [2, 2], 0, 1, 2, 3)]);

    private static WeightSet Delta1 => new([TestWeights.Tensor("a", [2], 1, 0), TestWeights.Tensor("b", [2, 2], 4, 0, 0, 0)]);

    private static WeightSet Delta2 => new([TestWeights.Tensor("a", [2], -1, 2), TestWeights.Tensor("b", [2, 2], 0, 4, 0, -4)]);

    [Fact]
    public async Task FedAvg_adds_the_sample_weighted_mean_of_the_deltas_to_the_base()
    {
        var aggregator = await AddRoundAsync(AggregationConfig.FedAvg());

        var next = await aggregator.FinishAsync(await WriteAsync("base", Base));

        Assert.Equal(2, aggregator.UpdateCount);
        Assert.Equal(4, aggregator.SampleCount);
        Assert.Equal([0.5f, 3.5f], next["a"].Data);
        Assert.Equal([1f, 4, 2, 0], next["b"].Data);
        Assert.Equal([2L, 2], next["b"].Shape);
    }

    [Fact]
    public async Task Sample_counts_weight_the_mean_not_the_number_of_updates()
    {
        var equal = await AddRoundAsync(AggregationConfig.FedAvg(), n1: 5, n2: 5);
        var baseWeights = Base;

        var next = await equal.FinishAsync(baseWeights);

        Assert.Equal([1f, 3], next["a"].Data); // (Δ₁ + Δ₂) / 2: a = [0, 1], b = [[2, 2], [0, −2]]
        Assert.Equal([2f, 3, 2, 1], next["b"].Data);
        Assert.Equal([0f, 1, 2, 3], baseWeights["b"].Data); // the base in memory is left unchanged
    }

    [Fact]
    public async Task FedProx_aggregates_as_FedAvg_and_carries_the_proximal_mu_nodes_apply()
    {
        var config = AggregationConfig.FedProx(mu: 0.01);
        var prox = await AddRoundAsync(config);

        var next = await prox.FinishAsync(Base);

        Assert.Equal(0.01, config.ProximalMu);
        Assert.Equal(AggregationStrategy.FedProx, config.Strategy);
        Assert.Equal([0.5f, 3.5f], next["a"].Data);
        Assert.Equal([1f, 4, 2, 0], next["b"].Data);
    }

    [Fact]
    public async Task FedAdam_steps_the_server_optimizer_and_its_state_carries_into_the_next_round()
    {
        // η = 0.1, β1 = 0.9, β2 = 0.99, τ = 1e−3; m₀ = 0, v₀ = τ². Round 1: m = 0.1Δ, v = 0.99τ² + 0.01Δ²,
        // x = base + η·m / (√v + τ); e.g. a₀: m = −0.05, v = 0.00250099, x = 1 − 0.005 / 0.0510099 = 0.90198.
        var config = AggregationConfig.FedAdam(eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3);
        var state1 = _dir.Combine("adam-1.gctw");
        var round1 = await (await AddRoundAsync(config)).FinishAsync(Base, optimizerState: null, nextOptimizerState: state1);

        AssertClose([0.90198f, 2.099336f], round1["a"].Data);
        AssertClose([0.099005f, 1.099667f, 2f, 2.900333f], round1["b"].Data);
        var state = await WeightFile.ReadAsync(state1);
        Assert.Equal(["m/a", "v/a", "m/b", "v/b"], state.Select(t => t.Name));
        AssertClose([-0.05f, 0.15f], state["m/a"].Data);
        AssertClose([0.00250099f, 0.02250099f], state["v/a"].Data);

        // Round 2, same mean delta, from round 1's weights and state: m = 0.19Δ, v = 0.99v₁ + 0.01Δ².
        var state2 = _dir.Combine("adam-2.gctw");
        var round2 = await (await AddRoundAsync(config)).FinishAsync(round1, state1, state2);

        AssertClose([0.769188f, 2.233388f], round2["a"].Data);
        AssertClose([0.232741f, 1.234037f, 2f, 2.765963f], round2["b"].Data);
        AssertClose([0.00497598f, 0.04477598f], (await WeightFile.ReadAsync(state2))["v/a"].Data);
    }

    [Fact]
    public async Task FedYogi_updates_the_second_moment_additively_with_the_sign_of_v_minus_delta_squared()
    {
        // v ← v − (1 − β2)·Δ²·sign(v − Δ²): round 2 gives v = 0.005001 for a₀ where Adam gives 0.00497598.
        var config = AggregationConfig.FedYogi(eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3);
        var state1 = _dir.Combine("yogi-1.gctw");
        var state2 = _dir.Combine("yogi-2.gctw");
        var round1 = await (await AddRoundAsync(config)).FinishAsync(await WriteAsync("base", Base), null, state1);
        var round2 = await (await AddRoundAsync(config)).FinishAsync(await WriteAsync("round1", round1), state1, state2);

        AssertClose([0.769516f, 2.233054f], round2["a"].Data);
        AssertClose([0.232409f, 1.233701f, 2f, 2.766299f], round2["b"].Data);
        AssertClose([0.005001f, 0.045001f], (await WeightFile.ReadAsync(state2))["v/a"].Data);
    }

    [Fact]
    public async Task A_server_optimizer_without_a_place_for_its_state_or_with_another_models_state_is_refused()
    {
        var config = AggregationConfig.FedAdam();
        var otherState = await WriteAsync("other-state", new WeightSet([TestWeights.Tensor("m/c", [2], 0, 0)]));

        await Assert.ThrowsAsync<ArgumentException>(async () => await (await AddRoundAsync(config)).FinishAsync(Base));
        await Assert.ThrowsAsync<UnknownTensorException>(async () => await (await AddRoundAsync(config)).FinishAsync(Base, otherState, _dir.Combine("next.gctw")));
        Assert.Throws<ArgumentException>(() => new Aggregator(AggregationConfig.FedYogi(beta2: 1)));
        Assert.Throws<ArgumentException>(() => new Aggregator(AggregationConfig.FedProx(mu: -1)));
    }

    [Fact]
    public async Task An_update_of_another_layout_is_refused_before_it_changes_the_sum()
    {
        var aggregator = new Aggregator(AggregationConfig.FedAvg());
        await aggregator.AddAsync(await WriteAsync("d1", Delta1), 1);
        var reshaped = await WriteAsync("bad", new WeightSet([TestWeights.Tensor("a", [2], 9, 9), TestWeights.Tensor("b", [4], 9, 9, 9, 9)]));

        await Assert.ThrowsAsync<TensorShapeMismatchException>(() => aggregator.AddAsync(reshaped, 100));
        await aggregator.AddAsync(await WriteAsync("d2", Delta2), 3);
        var next = await aggregator.FinishAsync(Base);

        Assert.Equal(2, aggregator.UpdateCount);
        Assert.Equal([0.5f, 3.5f], next["a"].Data);
    }

    [Fact]
    public async Task Adding_updates_keeps_one_running_sum_the_size_of_one_model_however_many_arrive()
    {
        // 1 M parameters (4 MB) per update; 6 updates.
        var layout = new (string, long[])[] { ("w", [1000, 768]), ("b", [768]), ("e", [231_232]) };
        var files = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            files.Add(await WriteAsync($"u{i}", TestWeights.Random(i, layout)));
        }

        // The allocation counter is process-wide: work still winding down elsewhere in the test host only
        // adds to it, so the least of three measurements is the aggregator's own.
        long modelBytes = 0;
        long allocatedByFiveUpdates = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var aggregator = new Aggregator(AggregationConfig.FedAvg());
            await aggregator.AddAsync(files[0], 10);
            modelBytes = aggregator.Layout!.ElementCount * sizeof(float);
            Assert.Equal(4_000_000, modelBytes);

            long before = GC.GetTotalAllocatedBytes(precise: true);
            foreach (var f in files.Skip(1))
            {
                await aggregator.AddAsync(f, 10);
            }

            allocatedByFiveUpdates = Math.Min(allocatedByFiveUpdates, GC.GetTotalAllocatedBytes(precise: true) - before);
            Assert.Equal(modelBytes, aggregator.AccumulatorBytes);
        }

        Assert.True(allocatedByFiveUpdates < modelBytes / 4, $"adding 5 updates of {modelBytes} bytes allocated {allocatedByFiveUpdates} bytes");
    }

    private async Task<Aggregator> AddRoundAsync(AggregationConfig config, long n1 = 1, long n2 = 3)
    {
        var aggregator = new Aggregator(config);
        await aggregator.AddAsync(await WriteAsync($"d1-{Guid.NewGuid():N}", Delta1), n1);
        await aggregator.AddAsync(await WriteAsync($"d2-{Guid.NewGuid():N}", Delta2), n2);
        return aggregator;
    }

    private async Task<string> WriteAsync(string name, WeightSet weights)
    {
        var path = _dir.Combine(name + WeightFile.Extension);
        await WeightFile.WriteAsync(path, weights);
        return path;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 2e-5 * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}

/// <summary>Tests that count allocated bytes run alone, so other tests' allocations do not count.</summary>
[CollectionDefinition(nameof(AllocationMeasurements), DisableParallelization = true)]
public sealed class AllocationMeasurements
{
}
