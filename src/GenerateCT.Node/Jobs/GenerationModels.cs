using System.Security.Cryptography;
using System.Text;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Jobs;

/// <summary>
/// The node's generation pipeline over its configured bundle, loaded once on first use (the worker
/// asks at start, so the first cohort does not wait for it) and kept for the life of the node. A load
/// that fails is not cached: fixing the bundle on disk and submitting again retries.
/// </summary>
internal sealed class GenerationModels(IOptions<GenerationOptions> generationOptions, ILogger<GenerationModels> log) : IDisposable
{
    private readonly GenerationOptions _options = generationOptions.Value;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private ModelBundle? _bundle;
    private GenerationPipeline? _pipeline;

    public bool IsConfigured => _options.IsConfigured;

    /// <summary>The active bundle's version: its pipeline name and the first 12 hex digits of SHA-256 over its components' hashes.</summary>
    public string? Version => Description is { } d ? VersionOf(d.Pipeline, d.Digest) : null;

    /// <summary>The loaded bundle's directory name, pipeline and SHA-256 over its components' hashes (null until loaded).</summary>
    public (string Name, string Pipeline, string Digest)? Description { get; private set; }

    public static GenerationUnavailableException NotConfigured() => new(
        $"no generation model is configured on this node: set {GenerationOptions.Section}:Bundle to a model bundle directory " +
        "(made by `gct model import-released` or `gct train all`) and restart the node");

    public async Task<GenerationPipeline> GetAsync(CancellationToken cancellationToken)
    {
        if (_pipeline is { } ready)
        {
            return ready;
        }

        if (!_options.IsConfigured)
        {
            throw NotConfigured();
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_pipeline is null)
            {
                // Loading verifies every hash and builds the networks: seconds to minutes, off the caller's thread.
                var bundle = await Task.Run(() => Load(_options.Bundle!, _options.Device), cancellationToken);
                Description = (Path.GetFileName(Path.TrimEndingDirectorySeparator(_options.Bundle!)), bundle.Manifest.Pipeline, DigestOf(bundle.Manifest));
                _bundle = bundle;
                _pipeline = new GenerationPipeline(bundle);
                log.LogInformation("generation bundle {Version} loaded from {Bundle}", Version, _options.Bundle);
            }

            return _pipeline;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _bundle?.Dispose();
        _gate.Dispose();
    }

    private static ModelBundle Load(string directory, string device)
    {
        try
        {
            return ModelBundle.Load(directory, TorchDevice.Select(device));
        }
        catch (Exception e) when (e is ModelBundleException or InvalidOperationException or IOException)
        {
            throw new GenerationUnavailableException(
                $"the generation bundle {GenerationOptions.Section}:Bundle = '{directory}' cannot be used: {e.Message}", e);
        }
    }

    /// <summary>A bundle's version as <see cref="Version"/> spells it, from its manifest alone (no weights loaded).</summary>
    public static string VersionOf(BundleManifest manifest) => VersionOf(manifest.Pipeline, DigestOf(manifest));

    private static string VersionOf(string pipeline, string digest) => $"{pipeline}-{digest[..12]}";

    /// <summary>SHA-256 over the components' stages and hashes: one digest names the whole bundle.</summary>
    private static string DigestOf(BundleManifest manifest)
    {
        var hashes = string.Join("\n", manifest.Components.Select(c => $"{c.Stage} {c.Sha256}"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(hashes)));
    }
}
