using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GenerateCT.Model;
using GenerateCT.Model.Pipeline;
using GenerateCT.Node.Federation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenerateCT.Node.Jobs;

/// <summary>
/// The node's generation pipeline over its active bundle: the configured one (Node:Generation:Bundle) or a
/// global version Admin activated (remembered in {DataDirectory}/models/active.json across restarts). The
/// active bundle is loaded on first use (the worker asks at start, so the first cohort does not wait for it);
/// a load that fails is not cached. Activating another bundle loads it, then switches: each job holds a
/// <see cref="GenerationLease"/> on the bundle it started with, and a replaced bundle is disposed once its
/// last job ends, so jobs in flight finish on the old bundle and no restart is needed.
/// </summary>
internal sealed class GenerationModels : IDisposable
{
    private readonly GenerationOptions _options;
    private readonly GlobalVersions _globals;
    private readonly ILogger<GenerationModels> _log;
    private readonly string _activeFile;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly object _lock = new();
    private Loaded? _current;

    public GenerationModels(IOptions<GenerationOptions> generationOptions, IOptions<NodeOptions> nodeOptions, GlobalVersions globals, ILogger<GenerationModels> log)
    {
        _options = generationOptions.Value;
        _globals = globals;
        _log = log;
        _activeFile = Path.Combine(Path.GetFullPath(nodeOptions.Value.DataDirectory), "models", "active.json");
    }

    public bool IsConfigured => _options.IsConfigured;

    /// <summary>The active bundle's version: its pipeline name and the first 12 hex digits of SHA-256 over its components' hashes.</summary>
    public string? Version => _current?.Version;

    /// <summary>The loaded bundle's name (directory name, or "global-vN"), pipeline and SHA-256 over its components' hashes (null until loaded).</summary>
    public (string Name, string Pipeline, string Digest)? Description => _current?.Description;

    /// <summary>The directory of the bundle new jobs use (null when none is configured).</summary>
    public string? ActiveDirectory => _current?.Directory ?? (IsConfigured ? Chosen().Directory : null);

    public static GenerationUnavailableException NotConfigured() => new(
        $"no generation model is configured on this node: set {GenerationOptions.Section}:Bundle to a model bundle directory " +
        "(made by `gct model import-released` or `gct train all`) and restart the node");

    /// <summary>The active pipeline, for a quick look (prompt checks, warm-up); a job holds a lease instead.</summary>
    public async Task<GenerationPipeline> GetAsync(CancellationToken cancellationToken) => (await LoadActiveAsync(cancellationToken)).Pipeline;

    /// <summary>The active pipeline, kept loaded until the lease is disposed even if another bundle is activated meanwhile.</summary>
    public async Task<GenerationLease> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var loaded = await LoadActiveAsync(cancellationToken);
            lock (_lock)
            {
                if (!loaded.Disposed)
                {
                    loaded.Leases++;
                    return new GenerationLease(this, loaded);
                }
            }
        }
    }

    /// <summary>
    /// Makes <paramref name="name"/> (the configured bundle's name or version, or a global version's name) the
    /// bundle new jobs use: it is loaded first (a bundle that does not load changes nothing), then switched to.
    /// </summary>
    /// <exception cref="GenerationUnavailableException">no such bundle on this node, or it does not load.</exception>
    public async Task ActivateAsync(string name, CancellationToken cancellationToken)
    {
        if (!_options.IsConfigured)
        {
            throw NotConfigured();
        }

        var (directory, displayName, global) = Resolve(name)
            ?? throw new GenerationUnavailableException(
                $"'{name}' is not installed on this node; ListModels names the bundles it has (the configured bundle and the global versions " +
                $"the federation published). To add a bundle from outside the federation, point {GenerationOptions.Section}:Bundle at it and restart the node");

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_current is { } current && current.Directory == directory)
            {
                return;
            }

            var loaded = await LoadAsync(directory, displayName, cancellationToken);
            Loaded? replaced;
            lock (_lock)
            {
                replaced = _current;
                _current = loaded;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(_activeFile)!);
            var partial = _activeFile + ".partial";
            await File.WriteAllTextAsync(partial, JsonSerializer.Serialize(new ActiveChoice(global ? displayName : null)), cancellationToken);
            File.Move(partial, _activeFile, overwrite: true);
            _log.LogInformation("generation switched to {Name} ({Version}); jobs in flight finish on {Previous}", displayName, loaded.Version, replaced?.Version);
            if (replaced is not null)
            {
                Retire(replaced);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _current?.Bundle.Dispose();
            _current = null;
        }

        _gate.Dispose();
    }

    /// <summary>A bundle's version as <see cref="Version"/> spells it, from its manifest alone (no weights loaded).</summary>
    public static string VersionOf(BundleManifest manifest) => VersionOf(manifest.Pipeline, DigestOf(manifest));

    /// <summary>SHA-256 over the components' stages and hashes: one digest names the whole bundle.</summary>
    public static string DigestOf(BundleManifest manifest)
    {
        var hashes = string.Join("\n", manifest.Components.Select(c => $"{c.Stage} {c.Sha256}"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(hashes)));
    }

    /// <summary>The name a bundle in <paramref name="directory"/> goes by when it is the configured one.</summary>
    public static string LocalName(string directory) => Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));

    internal void Release(Loaded loaded)
    {
        lock (_lock)
        {
            loaded.Leases--;
            if (loaded.Leases == 0 && !ReferenceEquals(loaded, _current) && !loaded.Disposed)
            {
                loaded.Disposed = true;
                loaded.Bundle.Dispose();
            }
        }
    }

    private void Retire(Loaded replaced)
    {
        lock (_lock)
        {
            if (replaced.Leases == 0 && !replaced.Disposed)
            {
                replaced.Disposed = true;
                replaced.Bundle.Dispose();
            }
        }
    }

    private async Task<Loaded> LoadActiveAsync(CancellationToken cancellationToken)
    {
        if (_current is { } ready)
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
            if (_current is null)
            {
                var (directory, name) = Chosen();
                var loaded = await LoadAsync(directory, name, cancellationToken);
                lock (_lock)
                {
                    _current = loaded;
                }
            }

            return _current;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The bundle chosen at start: the global version active.json names if it is still installed, else the configured one.</summary>
    private (string Directory, string Name) Chosen()
    {
        if (File.Exists(_activeFile)
            && JsonSerializer.Deserialize<ActiveChoice>(File.ReadAllText(_activeFile)) is { Global: { } global }
            && _globals.Find(global) is { } version)
        {
            return (version.Directory, version.Name);
        }

        return (Path.GetFullPath(_options.Bundle!), LocalName(_options.Bundle!));
    }

    private (string Directory, string Name, bool Global)? Resolve(string name)
    {
        var local = Path.GetFullPath(_options.Bundle!);
        if (name == LocalName(local) || (File.Exists(Path.Combine(local, ModelBundle.ManifestFile)) && name == VersionOf(ModelBundle.ReadManifest(local))))
        {
            return (local, LocalName(local), false);
        }

        return _globals.Find(name) is { } version ? (version.Directory, version.Name, true) : null;
    }

    private async Task<Loaded> LoadAsync(string directory, string name, CancellationToken cancellationToken)
    {
        // Loading verifies every hash and builds the networks: seconds to minutes, off the caller's thread.
        var bundle = await Task.Run(() => Load(directory, _options.Device), cancellationToken);
        var loaded = new Loaded(directory, bundle, new GenerationPipeline(bundle), (name, bundle.Manifest.Pipeline, DigestOf(bundle.Manifest)));
        _log.LogInformation("generation bundle {Version} loaded from {Bundle}", loaded.Version, directory);
        return loaded;
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
                $"the generation bundle '{directory}' cannot be used: {e.Message}", e);
        }
    }

    private static string VersionOf(string pipeline, string digest) => $"{pipeline}-{digest[..12]}";

    private sealed record ActiveChoice(string? Global);

    /// <summary>A loaded bundle and the jobs holding it.</summary>
    internal sealed class Loaded(string directory, ModelBundle bundle, GenerationPipeline pipeline, (string Name, string Pipeline, string Digest) description)
    {
        public string Directory { get; } = directory;

        public ModelBundle Bundle { get; } = bundle;

        public GenerationPipeline Pipeline { get; } = pipeline;

        public (string Name, string Pipeline, string Digest) Description { get; } = description;

        public string Version => VersionOf(Description.Pipeline, Description.Digest);

        public int Leases { get; set; }

        public bool Disposed { get; set; }
    }
}

/// <summary>A job's hold on the bundle it started with (see <see cref="GenerationModels.AcquireAsync"/>).</summary>
internal sealed class GenerationLease : IDisposable
{
    private readonly GenerationModels _models;
    private readonly GenerationModels.Loaded _loaded;
    private int _released;

    internal GenerationLease(GenerationModels models, GenerationModels.Loaded loaded)
    {
        _models = models;
        _loaded = loaded;
    }

    public GenerationPipeline Pipeline => _loaded.Pipeline;

    /// <summary>The version of the bundle this lease holds.</summary>
    public string Version => _loaded.Version;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _models.Release(_loaded);
        }
    }
}
