using System.Security.Cryptography;
using System.Runtime.InteropServices;
using GenerateCT.Federation.Transfer;
using GenerateCT.Federation.V1;
using GenerateCT.Federation.Weights;
using GenerateCT.Testing;
using Google.Protobuf;

namespace GenerateCT.Federation.Tests;

public sealed class ChunkCodecTests : IDisposable
{
    private const int SmallChunk = 1000; // bytes: 250 floats, so the 64×48 tensor takes 13 chunks

    private readonly Scratch _dir = new("gct-chunks");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Chunks_stay_within_the_limit_carry_element_offsets_and_each_tensor_ends_with_its_sha256()
    {
        var weights = TestWeights.Model(1);

        var chunks = ChunkWriter.Chunks(weights, SmallChunk).ToList();

        Assert.All(chunks, c => Assert.True(c.Data.Length <= SmallChunk));
        var q = chunks.Where(c => c.Name == "transformer.layers.0.0.to_q.weight").ToList();
        Assert.Equal(13, q.Count);
        Assert.Equal(Enumerable.Range(0, 13).Select(i => 250L * i), q.Select(c => c.Offset));
        Assert.Equal([64L, 48], q[0].Shape);
        Assert.True(q[^1].LastChunkOfTensor);
        Assert.All(q[..^1], c => Assert.False(c.LastChunkOfTensor));
        Assert.Equal(SHA256.HashData(MemoryMarshal.AsBytes(weights[0].Data.AsSpan())), q[^1].Sha256.ToByteArray());
        var empty = Assert.Single(chunks, c => c.Name == "transformer.null_embed");
        Assert.True(empty.LastChunkOfTensor);
        Assert.Equal(0, empty.Data.Length);
        Assert.Equal(4, chunks.Count(c => c.LastChunkOfTensor));
    }

    [Fact]
    public void The_default_chunk_fits_grpcs_default_4_MiB_message_limit()
    {
        var big = TestWeights.Random(1, ("embedding", [3, 1024, 1024]));

        var chunks = ChunkWriter.Chunks(big).ToList();

        Assert.Equal(4, chunks.Count); // 12 MiB in chunks of 4 MiB − 16 KiB
        Assert.Equal(12L * 1024 * 1024, chunks.Sum(c => (long)c.Data.Length));
        Assert.All(chunks, c => Assert.True(new UpdateMessage { Chunk = c }.CalculateSize() < 4 * 1024 * 1024));
    }

    [Fact]
    public void Chunks_reassemble_into_the_same_weights()
    {
        var weights = TestWeights.Model(2);
        var assembler = new ChunkAssembler(weights.Layout);

        foreach (var chunk in ChunkWriter.Chunks(weights, SmallChunk))
        {
            assembler.Add(Wire(chunk));
        }

        Assert.True(assembler.IsComplete);
        Assert.Equal(weights.ComputeVersionId(), assembler.ToWeightSet().ComputeVersionId());
    }

    [Fact]
    public void A_download_dropped_in_the_middle_of_a_tensor_resumes_from_the_assemblers_position()
    {
        var weights = TestWeights.Model(3);
        var assembler = new ChunkAssembler(); // the node learns the layout from the chunks
        foreach (var chunk in ChunkWriter.Chunks(weights, SmallChunk).Take(5))
        {
            assembler.Add(Wire(chunk));
        }

        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 1250 }, assembler.Position);
        foreach (var chunk in ChunkWriter.Chunks(weights, SmallChunk, assembler.Position))
        {
            assembler.Add(Wire(chunk));
        }

        Assert.Equal(weights.ComputeVersionId(), assembler.ToWeightSet().ComputeVersionId());
    }

    [Fact]
    public async Task Chunks_streamed_from_a_weights_file_equal_those_of_the_weights_in_memory_also_when_resuming()
    {
        var weights = TestWeights.Model(4);
        var path = _dir.Combine("v.gctw");
        await WeightFile.WriteAsync(path, weights);
        var from = new TransferPosition { TensorIndex = 0, Offset = 750 };

        var fromFile = await ChunkWriter.ChunksAsync(path, SmallChunk, from).ToListAsync();

        Assert.Equal(ChunkWriter.Chunks(weights, SmallChunk, from).ToList(), fromFile);
    }

    [Fact]
    public async Task A_weights_file_corrupted_on_disk_is_not_served_past_the_damaged_tensor()
    {
        var path = _dir.Combine("v.gctw");
        await WeightFile.WriteAsync(path, TestWeights.Model(11));
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[300] ^= 0x10;
        await File.WriteAllBytesAsync(path, bytes);

        var sent = new List<TensorChunk>();
        await Assert.ThrowsAsync<TensorHashMismatchException>(async () =>
        {
            await foreach (var chunk in ChunkWriter.ChunksAsync(path, SmallChunk))
            {
                sent.Add(chunk);
            }
        });

        Assert.Equal(12, sent.Count); // the damaged tensor's last chunk, with its hash, was never sent
    }

    [Fact]
    public void A_tensor_whose_bytes_do_not_match_its_sha256_is_refused_and_must_be_sent_again_from_its_start()
    {
        var weights = TestWeights.Model(5);
        var chunks = ChunkWriter.Chunks(weights, SmallChunk).ToList();
        var assembler = new ChunkAssembler(weights.Layout);
        foreach (var c in chunks.Take(12))
        {
            assembler.Add(c);
        }

        var corrupted = chunks[12].Clone();
        var bytes = corrupted.Data.ToByteArray();
        bytes[0] ^= 0x40;
        corrupted.Data = ByteString.CopyFrom(bytes);

        var e = Assert.Throws<TensorHashMismatchException>(() => assembler.Add(corrupted));
        Assert.Contains("transformer.layers.0.0.to_q.weight", e.Message, StringComparison.Ordinal);
        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 0 }, assembler.Position);
        foreach (var c in chunks)
        {
            assembler.Add(c);
        }

        Assert.Equal(weights.ComputeVersionId(), assembler.ToWeightSet().ComputeVersionId());
    }

    [Fact]
    public void A_last_chunk_without_a_hash_is_refused()
    {
        var weights = TestWeights.Model(6);
        var last = ChunkWriter.Chunks(weights, SmallChunk).First(c => c.LastChunkOfTensor).Clone();
        last.Sha256 = ByteString.Empty;
        var assembler = new ChunkAssembler(weights.Layout);
        foreach (var c in ChunkWriter.Chunks(weights, SmallChunk).TakeWhile(c => !c.LastChunkOfTensor))
        {
            assembler.Add(c);
        }

        Assert.Throws<TensorHashMismatchException>(() => assembler.Add(last));
    }

    [Fact]
    public void A_gap_or_an_overlap_is_refused_and_changes_nothing()
    {
        var weights = TestWeights.Model(7);
        var chunks = ChunkWriter.Chunks(weights, SmallChunk).ToList();
        var assembler = new ChunkAssembler(weights.Layout);
        assembler.Add(chunks[0]);
        assembler.Add(chunks[1]);

        var gap = Assert.Throws<ChunkSequenceException>(() => assembler.Add(chunks[3]));
        var overlap = Assert.Throws<ChunkSequenceException>(() => assembler.Add(chunks[1]));

        Assert.Contains("gap", gap.Message, StringComparison.Ordinal);
        Assert.Contains("overlap", overlap.Message, StringComparison.Ordinal);
        Assert.Equal(new TransferPosition { TensorIndex = 0, Offset = 500 }, assembler.Position);
        foreach (var c in chunks.Skip(2))
        {
            assembler.Add(c);
        }

        Assert.True(assembler.IsComplete);
    }

    [Fact]
    public void A_refused_first_chunk_does_not_count_its_tensor_as_begun()
    {
        var weights = TestWeights.Model(10);
        var chunks = ChunkWriter.Chunks(weights, SmallChunk).ToList();
        var assembler = new ChunkAssembler(); // no layout: names are checked for repeats

        Assert.Throws<ChunkSequenceException>(() => assembler.Add(chunks[1]));
        foreach (var c in chunks)
        {
            assembler.Add(c);
        }

        Assert.Equal(weights.ComputeVersionId(), assembler.ToWeightSet().ComputeVersionId());
        Assert.Throws<ChunkSequenceException>(() => assembler.Add(chunks[0])); // the same tensor again
    }

    [Fact]
    public void A_tensor_not_in_the_layout_a_tensor_out_of_order_a_wrong_shape_or_a_wrong_dtype_is_refused()
    {
        var weights = TestWeights.Model(8);
        var first = ChunkWriter.Chunks(weights, SmallChunk).First();
        var assembler = new ChunkAssembler(weights.Layout);

        var unknown = first.Clone();
        unknown.Name = "transformer.layers.9.weight";
        var outOfOrder = ChunkWriter.Chunks(weights, SmallChunk).First(c => c.Name == "transformer.layers.0.0.to_q.bias");
        var reshaped = first.Clone();
        reshaped.Shape[0] = 48;
        reshaped.Shape[1] = 64;
        var half = first.Clone();
        half.Dtype = TensorDtype.Float16;

        Assert.Throws<UnknownTensorException>(() => assembler.Add(unknown));
        Assert.Throws<ChunkSequenceException>(() => assembler.Add(outOfOrder));
        Assert.Throws<TensorShapeMismatchException>(() => assembler.Add(reshaped));
        Assert.Throws<TensorDtypeException>(() => assembler.Add(half));
        Assert.Equal(new TransferPosition(), assembler.Position);
    }

    [Fact]
    public void Incomplete_weights_cannot_be_taken_and_a_resume_position_outside_the_weights_is_refused()
    {
        var weights = TestWeights.Model(9);
        var assembler = new ChunkAssembler(weights.Layout);
        assembler.Add(ChunkWriter.Chunks(weights, SmallChunk).First());

        Assert.Throws<ChunkSequenceException>(assembler.ToWeightSet);
        Assert.Throws<ChunkSequenceException>(() => ChunkWriter.Chunks(weights, SmallChunk, new TransferPosition { TensorIndex = 1, Offset = 64 }).ToList());
        Assert.Empty(ChunkWriter.Chunks(weights, SmallChunk, new TransferPosition { TensorIndex = 4 }));
    }

    /// <summary>Through the wire format, as a receiver gets it.</summary>
    private static TensorChunk Wire(TensorChunk chunk) => TensorChunk.Parser.ParseFrom(chunk.ToByteArray());
}
