using GenerateCT.Federation.Weights;

namespace GenerateCT.Federation.Aggregation;

/// <summary>
/// FedAdam/FedYogi moments between rounds, in a weights file: for each model tensor <c>name</c>, the
/// tensors <c>m/name</c> and <c>v/name</c> of the same shape, in the model's order. Read and written
/// one tensor at a time; the next state is published atomically. No file yet: m = 0 and v = τ²
/// (Reddi et al. 2021, Algorithm 2: v₋₁ ≥ τ²).
/// </summary>
internal sealed class ServerOptimizerState : IAsyncDisposable
{
    private readonly WeightLayout _layout;
    private readonly float _initialV;
    private readonly string? _inPath;
    private readonly IAsyncEnumerator<WeightTensor>? _in;
    private readonly WeightFileWriter _out;

    public ServerOptimizerState(WeightLayout layout, AggregationConfig config, string? inPath, string outPath)
    {
        _layout = layout;
        _initialV = (float)(config.Tau * config.Tau);
        if (inPath is not null && File.Exists(inPath))
        {
            _inPath = inPath;
            _in = WeightFile.ReadTensorsAsync(inPath).GetAsyncEnumerator();
        }

        _out = WeightFileWriter.Create(outPath);
    }

    public readonly record struct Moments(float[] M, float[] V);

    public async Task<Moments> ReadAsync(int index, CancellationToken cancellationToken)
    {
        if (_in is null)
        {
            var v = new float[_layout.ElementCountAt(index)];
            Array.Fill(v, _initialV);
            return new Moments(new float[v.Length], v);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return new Moments(await NextAsync("m/", index), await NextAsync("v/", index));
    }

    public async Task WriteAsync(int index, Moments moments, CancellationToken cancellationToken)
    {
        var shape = _layout.ShapeArrayAt(index);
        await _out.WriteTensorAsync(new WeightTensor("m/" + _layout.NameAt(index), shape, moments.M), cancellationToken);
        await _out.WriteTensorAsync(new WeightTensor("v/" + _layout.NameAt(index), shape, moments.V), cancellationToken);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (_in is not null && await _in.MoveNextAsync())
        {
            throw new UnknownTensorException($"optimizer state {_inPath} has '{_in.Current.Name}' after the model's last tensor");
        }

        await _out.CompleteAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_in is not null)
        {
            await _in.DisposeAsync();
        }

        await _out.DisposeAsync();
    }

    private async Task<float[]> NextAsync(string prefix, int index)
    {
        string name = prefix + _layout.NameAt(index);
        if (!await _in!.MoveNextAsync())
        {
            throw new WeightFileFormatException($"optimizer state {_inPath} ends before '{name}'");
        }

        var tensor = _in.Current;
        if (tensor.Name != name)
        {
            throw new UnknownTensorException($"optimizer state {_inPath} has '{tensor.Name}' where '{name}' was expected");
        }

        _layout.CheckShape(index, tensor.ShapeArray, $"optimizer state {_inPath}");
        return tensor.Data;
    }
}
