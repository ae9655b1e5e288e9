using GenerateCT.Federation.Weights;
using GenerateCT.Testing;

namespace GenerateCT.Federation.Tests;

public sealed class WeightFileTests : IDisposable
{
    private readonly Scratch _dir = new("gct-weights");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Weights_written_to_a_file_read_back_equal_in_order_and_the_file_is_named_by_its_content()
    {
        var weights = TestWeights.Model(1);
        var path = _dir.Combine("v1.gctw");

        string id = await WeightFile.WriteAsync(path, weights);
        var back = await WeightFile.ReadAsync(path);

        Assert.Equal(weights.Select(t => t.Name), back.Select(t => t.Name));
        Assert.All(weights.Zip(back), p =>
        {
            Assert.Equal(p.First.Shape, p.Second.Shape);
            Assert.Equal(p.First.Data, p.Second.Data);
        });
        Assert.Equal(64, id.Length);
        Assert.Equal(id, weights.ComputeVersionId());
        Assert.Equal(id, back.ComputeVersionId());
        Assert.Equal(id, WeightFile.ReadVersionId(path));
        Assert.Equal(weights.Layout, WeightFile.ReadLayout(path));
        Assert.False(File.Exists(path + ".partial"));
    }

    [Fact]
    public async Task A_write_that_fails_midway_leaves_no_file_under_the_final_name()
    {
        var path = _dir.Combine("v2.gctw");
        static IEnumerable<WeightTensor> FailAfterOne()
        {
            yield return TestWeights.Tensor("a", [2], 1, 2);
            throw new IOException("disk full");
        }

        await Assert.ThrowsAsync<IOException>(() => WeightFile.WriteAsync(path, FailAfterOne()));

        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Different_values_or_names_give_different_version_ids()
    {
        var a = TestWeights.Model(1);
        var b = TestWeights.Model(1);
        b[0].Data[5] += 1e-6f;
        var renamed = new WeightSet(a.Select(t => t.Name == "transformer.scale" ? new WeightTensor("transformer.scale2", t.Shape, t.Data) : t));

        Assert.Equal(a.ComputeVersionId(), TestWeights.Model(1).ComputeVersionId());
        Assert.NotEqual(a.ComputeVersionId(), b.ComputeVersionId());
        Assert.NotEqual(a.ComputeVersionId(), renamed.ComputeVersionId());
    }

    [Fact]
    public async Task A_flipped_bit_in_a_tensor_is_refused_when_read()
    {
        var weights = TestWeights.Model(2);
        var path = _dir.Combine("v.gctw");
        await WeightFile.WriteAsync(path, weights);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[200] ^= 0x01; // inside the first tensor's data
        await File.WriteAllBytesAsync(path, bytes);

        var e = await Assert.ThrowsAsync<TensorHashMismatchException>(() => WeightFile.ReadAsync(path));
        Assert.Contains("transformer.layers.0.0.to_q.weight", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_file_or_a_file_without_an_end_record_is_refused()
    {
        var path = _dir.Combine("v.gctw");
        await WeightFile.WriteAsync(path, TestWeights.Model(3));
        var bytes = await File.ReadAllBytesAsync(path);

        await File.WriteAllBytesAsync(path, bytes[..^37]); // end record cut off
        await Assert.ThrowsAsync<WeightFileFormatException>(() => WeightFile.ReadAsync(path));
        await File.WriteAllBytesAsync(path, bytes[..100]); // cut inside the first tensor
        await Assert.ThrowsAsync<WeightFileFormatException>(() => WeightFile.ReadAsync(path));
        await File.WriteAllBytesAsync(path, "not weights"u8.ToArray());
        Assert.Throws<WeightFileFormatException>(() => WeightFile.ReadLayout(path));
    }

    [Fact]
    public async Task Reading_streams_one_tensor_at_a_time_in_file_order()
    {
        var path = _dir.Combine("v.gctw");
        var weights = TestWeights.Model(4);
        await WeightFile.WriteAsync(path, weights);

        var names = new List<string>();
        await foreach (var t in WeightFile.ReadTensorsAsync(path))
        {
            names.Add(t.Name);
            Assert.Equal(weights[t.Name].Data, t.Data);
        }

        Assert.Equal(weights.Select(t => t.Name), names);
    }

    [Fact]
    public void A_delta_is_new_minus_base_and_applying_it_to_the_base_gives_the_new_weights()
    {
        var baseWeights = new WeightSet([TestWeights.Tensor("w", [2, 2], 1, 2, 3, 4), TestWeights.Tensor("b", [2], 0.5f, -0.5f)]);
        var trained = new WeightSet([TestWeights.Tensor("w", [2, 2], 1.5f, 2, 2, 4.25f), TestWeights.Tensor("b", [2], 0.5f, 0.5f)]);

        var delta = trained.DeltaFrom(baseWeights);

        Assert.Equal([0.5f, 0, -1, 0.25f], delta["w"].Data);
        Assert.Equal([0f, 1], delta["b"].Data);
        Assert.Equal(trained.ComputeVersionId(), baseWeights.WithDelta(delta).ComputeVersionId());
    }

    [Fact]
    public void A_delta_between_different_layouts_is_refused()
    {
        var a = new WeightSet([TestWeights.Tensor("w", [2, 2], 1, 2, 3, 4)]);
        var reshaped = new WeightSet([TestWeights.Tensor("w", [4], 1, 2, 3, 4)]);
        var renamed = new WeightSet([TestWeights.Tensor("v", [2, 2], 1, 2, 3, 4)]);

        Assert.Throws<TensorShapeMismatchException>(() => a.DeltaFrom(reshaped));
        Assert.Throws<UnknownTensorException>(() => a.DeltaFrom(renamed));
    }

    [Fact]
    public void A_tensor_whose_shape_does_not_match_its_values_or_a_set_with_a_name_twice_cannot_be_made()
    {
        Assert.Throws<ArgumentException>(() => TestWeights.Tensor("w", [2, 3], 1, 2, 3));
        Assert.Throws<ArgumentException>(() => new WeightSet([TestWeights.Tensor("w", [1], 1), TestWeights.Tensor("w", [1], 2)]));
    }
}
