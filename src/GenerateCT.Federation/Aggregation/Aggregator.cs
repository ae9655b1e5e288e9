using GenerateCT.Federation.Weights;

namespace GenerateCT.Federation.Aggregation;

/// <summary>
/// Aggregates a round's updates as they arrive, in memory O(model) whatever the number of nodes: each
/// update (a delta file from <see cref="Transfer.UpdateSpool"/>) is streamed from disk into one running
/// sum Σ nₖ·Δₖ weighted by sample count; <see cref="FinishAsync(string, string?, string?, CancellationToken)"/>
/// turns Δ = Σ nₖ·Δₖ / Σ nₖ into the next version with the configured strategy.
/// </summary>
/// <remarks>
/// Update files are read without re-hashing: the spool checked every tensor's SHA-256 as it arrived.
/// An <see cref="AddAsync"/> that fails after it began adding (an I/O error, cancellation) leaves the
/// sum unusable: start the round's aggregation again from the spooled files.
/// </remarks>
public sealed class Aggregator
{
    /// <summary>Elements read per piece: one piece of an update per core is in memory at a time.</summary>
    private const int PieceElements = 256 * 1024;

    private readonly float[][] _pieces = [new float[PieceElements], new float[PieceElements]];
    private readonly float[]?[] _workers = new float[Math.Max(1, Environment.ProcessorCount)][];
    private WeightLayout? _layout;
    private float[][] _sum = [];
    private bool _broken;
    private bool _finished;

    public Aggregator(AggregationConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
    }

    public AggregationConfig Config { get; }

    /// <summary>Updates added so far.</summary>
    public int UpdateCount { get; private set; }

    /// <summary>Sum of the added updates' sample counts (FedAvg's denominator).</summary>
    public long SampleCount { get; private set; }

    /// <summary>Layout of the updates (known after the first).</summary>
    public WeightLayout? Layout => _layout;

    /// <summary>Bytes held by the running sum: one model's, however many updates were added.</summary>
    internal long AccumulatorBytes => _sum.Sum(a => (long)a.Length) * sizeof(float);

    /// <summary>Adds one update (a delta against the round's base version) weighted by <paramref name="sampleCount"/>.</summary>
    /// <exception cref="FederationException">the file is not a complete weights file, or its layout differs from the first update's (nothing is added).</exception>
    public async Task AddAsync(string updateFile, long sampleCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleCount, 1);
        ThrowIfUnusable();
        var layout = WeightFile.ReadLayout(updateFile); // whole structure checked before anything is added
        if (_layout is null)
        {
            _layout = layout;
            _sum = [.. Enumerable.Range(0, layout.Count).Select(i => new float[layout.ElementCountAt(i)])];
        }
        else
        {
            _layout.CheckSame(layout, updateFile);
        }

        _broken = true;
        float weight = sampleCount;
        using (var reader = WeightFileReader.Open(updateFile))
        {
            // Pieces of all tensors, spread over the cores: each worker reads a piece into its own
            // buffer (positional reads) and adds it into a disjoint part of the sum.
            var pieces = new List<(int Tensor, long FileOffset, int At, int Count)>();
            while (reader.MoveNext())
            {
                for (int at = 0; at < reader.ElementCount; at += PieceElements)
                {
                    pieces.Add((reader.Index, reader.DataStart + ((long)at * sizeof(float)), at, (int)Math.Min(PieceElements, reader.ElementCount - at)));
                }
            }

            await Task.Run(
                () => Parallel.ForEach(
                    pieces,
                    new ParallelOptions { MaxDegreeOfParallelism = _workers.Length, CancellationToken = cancellationToken },
                    () => TakeWorkerBuffer(),
                    (piece, _, buffer) =>
                    {
                        var span = buffer.AsSpan(0, piece.Count);
                        reader.ReadAt(System.Runtime.InteropServices.MemoryMarshal.AsBytes(span), piece.FileOffset);
                        TensorMath.AddScaled(_sum[piece.Tensor].AsSpan(piece.At, piece.Count), span, weight);
                        return buffer;
                    },
                    ReturnWorkerBuffer),
                cancellationToken);
        }

        _broken = false;
        UpdateCount++;
        SampleCount += sampleCount;
    }

    /// <summary>
    /// The next version from the base version's file (streamed). FedAdam and FedYogi read their state
    /// (m, v) from <paramref name="optimizerState"/> (absent or null: the first round) and write the new
    /// state atomically to <paramref name="nextOptimizerState"/>. The aggregator is spent afterwards: the
    /// result reuses its buffers.
    /// </summary>
    /// <exception cref="FederationException">the base or the state does not have the updates' layout.</exception>
    public async Task<WeightSet> FinishAsync(string baseFile, string? optimizerState = null, string? nextOptimizerState = null, CancellationToken cancellationToken = default)
    {
        using var reader = WeightFileReader.Open(baseFile);
        return await FinishAsync(WeightFile.ReadLayout(baseFile), baseFile, reader, null, optimizerState, nextOptimizerState, cancellationToken);
    }

    /// <summary>As <see cref="FinishAsync(string, string?, string?, CancellationToken)"/>, from base weights in memory (left unchanged).</summary>
    public Task<WeightSet> FinishAsync(WeightSet baseWeights, string? optimizerState = null, string? nextOptimizerState = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseWeights);
        return FinishAsync(baseWeights.Layout, "base weights", null, baseWeights, optimizerState, nextOptimizerState, cancellationToken);
    }

    private async Task<WeightSet> FinishAsync(
        WeightLayout baseLayout, string baseName, WeightFileReader? baseFile, WeightSet? baseWeights,
        string? optimizerState, string? nextOptimizerState, CancellationToken cancellationToken)
    {
        ThrowIfUnusable();
        if (_layout is null)
        {
            throw new InvalidOperationException("no update was added: a round with no updates keeps its model");
        }

        if (Config.HasServerOptimizer && nextOptimizerState is null)
        {
            throw new ArgumentException($"{Config.Strategy} keeps optimizer state between rounds: give the path to write it to", nameof(nextOptimizerState));
        }

        _layout.CheckSame(baseLayout, baseName);
        _finished = true;
        float inverseCount = (float)(1.0 / SampleCount);
        var result = new WeightTensor[_layout.Count];
        await using var state = Config.HasServerOptimizer ? new ServerOptimizerState(_layout, Config, optimizerState, nextOptimizerState!) : null;
        for (int i = 0; i < _layout.Count; i++)
        {
            var sum = _sum[i];
            var moments = state is null ? default : await state.ReadAsync(i, cancellationToken);
            void Step(ReadOnlySpan<float> basePiece, int at)
            {
                var x = sum.AsSpan(at, basePiece.Length);
                if (state is null)
                {
                    ServerUpdate.Average(basePiece, x, inverseCount);
                }
                else
                {
                    ServerUpdate.Adaptive(Config, basePiece, x, inverseCount, moments.M.AsSpan(at, basePiece.Length), moments.V.AsSpan(at, basePiece.Length));
                }
            }

            if (baseFile is not null)
            {
                baseFile.MoveNext();
                await ForEachPieceAsync(baseFile, sum.Length, Step, cancellationToken);
            }
            else
            {
                var data = baseWeights![i].Data;
                for (int at = 0; at < data.Length; at += PieceElements)
                {
                    Step(data.AsSpan(at, Math.Min(PieceElements, data.Length - at)), at);
                }
            }

            if (state is not null)
            {
                await state.WriteAsync(i, moments, cancellationToken);
            }

            result[i] = new WeightTensor(_layout.NameAt(i), _layout.ShapeArrayAt(i), sum);
        }

        if (state is not null)
        {
            await state.CompleteAsync(cancellationToken);
        }

        return new WeightSet(result);
    }

    /// <summary>Reads the current tensor of <paramref name="reader"/> piece by piece, the next piece being read while <paramref name="use"/> runs.</summary>
    private async Task ForEachPieceAsync(WeightFileReader reader, int count, PieceAction use, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            return;
        }

        int Length(int at) => Math.Min(PieceElements, count - at);
        ValueTask Read(int at, float[] into) => reader.ReadDataAsync(FloatBytes.Of(into, 0, Length(at)), at, cancellationToken);

        int k = 0;
        var pending = Read(0, _pieces[0]);
        for (int at = 0; at < count; at += PieceElements, k ^= 1)
        {
            await pending;
            int next = at + PieceElements;
            pending = next < count ? Read(next, _pieces[k ^ 1]) : ValueTask.CompletedTask;
            use(_pieces[k].AsSpan(0, Length(at)), at);
        }

        await pending;
    }

    /// <summary>A piece buffer per worker, made once and kept: adding updates allocates nothing per update.</summary>
    private float[] TakeWorkerBuffer()
    {
        lock (_workers)
        {
            for (int i = 0; i < _workers.Length; i++)
            {
                if (_workers[i] is { } buffer)
                {
                    _workers[i] = null;
                    return buffer;
                }
            }
        }

        return new float[PieceElements];
    }

    private void ReturnWorkerBuffer(float[] buffer)
    {
        lock (_workers)
        {
            int free = Array.IndexOf(_workers, null);
            if (free >= 0)
            {
                _workers[free] = buffer;
            }
        }
    }

    private delegate void PieceAction(ReadOnlySpan<float> piece, int at);

    private void ThrowIfUnusable()
    {
        if (_finished)
        {
            throw new InvalidOperationException("this aggregator has finished: its sum became the new version");
        }

        if (_broken)
        {
            throw new InvalidOperationException("an update failed while it was being added: the sum is incomplete; aggregate the round again from its spooled updates");
        }
    }
}
