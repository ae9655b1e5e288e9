using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;
using Google.Protobuf;

namespace GenerateCT.Federation.Tests;

public sealed class UpdateSpoolTests : IDisposable
{
    private const int SmallChunk = 1000;

    private readonly Scratch _dir = new("gct-spool");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_spooled_update_is_published_as_a_weights_file_named_by_the_same_version_id()
    {
        var update = TestWeights.Model(1);
        var path = _dir.Combine("round-1", "node-a.gctw");

        await using var spool = await UpdateSpool.OpenAsync(path, update.Layout);
        foreach (var chunk in ChunkWriter.Chunks(update, SmallChunk))
        {
            await spool.AddAsync(chunk);
        }

        string id = await spool.CompleteAsync();

        Assert.Equal(update.ComputeVersionId(), id);
        Assert.Equal(id, (await WeightFile.ReadAsync(path)).ComputeVersionId());
        Assert.True(spool.IsComplete);
        Assert.Equal(new TransferPosition { TensorIndex = 4 }, spool.Acknowledged);
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public async Task After_a_crash_the_spool_resumes_from_what_it_acknowledged_and_the_update_completes_intact()
    {
        var update = TestWeights.Model(2);
        var chunks = ChunkWriter.Chunks(update, SmallChunk).ToList();
        var path = _dir.Combine("live", "u.gctw");
        var crashed = _dir.Combine("after-crash", "u.gctw");
        Directory.CreateDirectory(Path.GetDirectoryName(crashed)!);

        // flushEveryBytes: 2500 → an fsync (and acknowledgement) every third chunk.
        var spool = await UpdateSpool.OpenAsync(path, update.Layout, flushEveryBytes: 2500);
        foreach (var c in chunks.Take(7))
        {
            await spool.AddAsync(c);
        }

        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 1750 }, spool.Received);
        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 1500 }, spool.Acknowledged);

        // kill -9 now: only what reached the files survives; copy them as they are.
        File.Copy(path + ".partial", crashed + ".partial");
        File.Copy(path + ".ack", crashed + ".ack");

        await using var reopened = await UpdateSpool.OpenAsync(crashed, update.Layout, flushEveryBytes: 2500);
        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 1500 }, reopened.Acknowledged);
        foreach (var c in ChunkWriter.Chunks(update, SmallChunk, reopened.Acknowledged))
        {
            await reopened.AddAsync(c);
        }

        Assert.Equal(update.ComputeVersionId(), await reopened.CompleteAsync());
        Assert.Equal(update.ComputeVersionId(), (await WeightFile.ReadAsync(crashed)).ComputeVersionId());
        await spool.DisposeAsync();
    }

    [Fact]
    public async Task A_spool_closed_by_a_dropped_stream_acknowledges_everything_received_and_resumes_after_whole_tensors()
    {
        var update = TestWeights.Model(3);
        var chunks = ChunkWriter.Chunks(update, SmallChunk).ToList();
        var path = _dir.Combine("u.gctw");
        int firstTwoTensors = chunks.FindIndex(c => c.Name == "transformer.null_embed");

        await using (var spool = await UpdateSpool.OpenAsync(path, update.Layout))
        {
            foreach (var c in chunks.Take(firstTwoTensors))
            {
                await spool.AddAsync(c);
            }
        }

        await using var resumed = await UpdateSpool.OpenAsync(path, update.Layout);
        Assert.Equal(new TransferPosition { TensorIndex = 2 }, resumed.Acknowledged);
        foreach (var c in ChunkWriter.Chunks(update, SmallChunk, resumed.Acknowledged))
        {
            await resumed.AddAsync(c);
        }

        Assert.Equal(update.ComputeVersionId(), await resumed.CompleteAsync());
    }

    [Fact]
    public async Task Opening_a_completed_update_again_reports_it_complete_and_refuses_more_chunks()
    {
        var update = TestWeights.Model(4);
        var path = _dir.Combine("u.gctw");
        string id;
        await using (var spool = await UpdateSpool.OpenAsync(path, update.Layout))
        {
            foreach (var c in ChunkWriter.Chunks(update))
            {
                await spool.AddAsync(c);
            }

            id = await spool.CompleteAsync();
        }

        await using var again = await UpdateSpool.OpenAsync(path, update.Layout);

        Assert.True(again.IsComplete);
        Assert.Equal(id, await again.CompleteAsync());
        await Assert.ThrowsAsync<ChunkSequenceException>(() => again.AddAsync(ChunkWriter.Chunks(update).First()));
    }

    [Fact]
    public async Task A_tensor_with_a_wrong_hash_is_dropped_from_the_spool_and_can_be_sent_again()
    {
        var update = TestWeights.Model(5);
        var chunks = ChunkWriter.Chunks(update, SmallChunk).ToList();
        var path = _dir.Combine("u.gctw");
        await using var spool = await UpdateSpool.OpenAsync(path, update.Layout, flushEveryBytes: 2000);
        foreach (var c in chunks.Take(12))
        {
            await spool.AddAsync(c);
        }

        var bad = chunks[12].Clone();
        bad.Sha256 = ByteString.CopyFrom(new byte[32]);
        await Assert.ThrowsAsync<TensorHashMismatchException>(() => spool.AddAsync(bad));
        Assert.Equal(new TransferPosition(), spool.Acknowledged);

        foreach (var c in chunks)
        {
            await spool.AddAsync(c);
        }

        Assert.Equal(update.ComputeVersionId(), await spool.CompleteAsync());
    }

    [Fact]
    public async Task An_incomplete_update_cannot_be_published_and_an_update_of_another_layout_is_refused()
    {
        var update = TestWeights.Model(6);
        var other = TestWeights.Random(6, ("transformer.layers.0.0.to_q.weight", [48, 64]));
        await using var spool = await UpdateSpool.OpenAsync(_dir.Combine("u.gctw"), update.Layout);

        await Assert.ThrowsAsync<TensorShapeMismatchException>(() => spool.AddAsync(ChunkWriter.Chunks(other).First()));
        await spool.AddAsync(ChunkWriter.Chunks(update).First());
        await Assert.ThrowsAsync<ChunkSequenceException>(() => spool.CompleteAsync());
    }
}
