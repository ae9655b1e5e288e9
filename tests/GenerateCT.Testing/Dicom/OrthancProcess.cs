using GenerateCT.Testing;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace GenerateCT.Testing.Dicom;

/// <summary>
/// Orthanc (Debian's /usr/sbin/Orthanc) with a temporary configuration: free HTTP and DICOM ports on
/// loopback, its own storage, no authentication, and the DICOM modalities given. Stopped by its
/// process id on dispose. Tests talk to it through its REST API (<see cref="Http"/>).
/// </summary>
public sealed class OrthancProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private OrthancProcess(Process process, string directory, int httpPort, int dicomPort, string aeTitle)
    {
        _process = process;
        _directory = directory;
        HttpPort = httpPort;
        DicomPort = dicomPort;
        AeTitle = aeTitle;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public int HttpPort { get; }

    public int DicomPort { get; }

    public string AeTitle { get; }

    public HttpClient Http { get; }

    public int ProcessId => _process.Id;

    /// <summary>Starts Orthanc; <paramref name="modalities"/> maps a modality id to (AE title, port) on 127.0.0.1.</summary>
    public static async Task<OrthancProcess> StartAsync(IReadOnlyDictionary<string, (string AeTitle, int Port)>? modalities = null, string aeTitle = "ORTHANC", string executable = "/usr/sbin/Orthanc")
    {
        if (!File.Exists(executable))
        {
            throw new FileNotFoundException($"Orthanc not found at {executable}: install the Debian package 'orthanc'");
        }

        var dir = Path.Combine(Path.GetTempPath(), $"gct-orthanc-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        int http = Scratch.FreePort();
        int dicom = Scratch.FreePort();
        var mods = new JsonObject();
        foreach (var (id, (ae, port)) in modalities ?? new Dictionary<string, (string, int)>())
        {
            mods[id] = new JsonArray(ae, "127.0.0.1", port);
        }

        var config = new JsonObject
        {
            ["Name"] = "gct-test",
            ["StorageDirectory"] = Path.Combine(dir, "storage"),
            ["IndexDirectory"] = Path.Combine(dir, "index"),
            ["HttpPort"] = http,
            ["HttpBindAddress"] = "127.0.0.1",
            ["DicomPort"] = dicom,
            ["DicomAet"] = aeTitle,
            ["RemoteAccessAllowed"] = false,
            ["AuthenticationEnabled"] = false,
            ["DicomCheckCalledAet"] = false,
            ["DicomAlwaysAllowStore"] = true,
            ["DicomAlwaysAllowEcho"] = true,
            ["DicomModalities"] = mods,
            ["Plugins"] = new JsonArray(),
            ["StableAge"] = 1,
            ["SaveJobs"] = false,
            ["ConcurrentJobs"] = 1,
        };
        var configPath = Path.Combine(dir, "orthanc.json");
        await File.WriteAllTextAsync(configPath, config.ToJsonString()).ConfigureAwait(false);
        var psi = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(configPath);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start Orthanc");
        var logs = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (logs) { logs.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (logs) { logs.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var orthanc = new OrthancProcess(process, dir, http, dicom, aeTitle);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                orthanc.Dispose();
                throw new InvalidOperationException($"Orthanc exited with {process.ExitCode}: {logs}");
            }

            try
            {
                using var r = await orthanc.Http.GetAsync("system").ConfigureAwait(false);
                if (r.IsSuccessStatusCode)
                {
                    return orthanc;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        orthanc.Dispose();
        throw new TimeoutException($"Orthanc did not answer on port {http} within 30 s: {logs}");
    }

    /// <summary>GET a JSON document from the REST API.</summary>
    public async Task<JsonNode> GetJsonAsync(string path, CancellationToken cancellationToken = default)
    {
        var node = await Http.GetFromJsonAsync<JsonNode>(path, cancellationToken).ConfigureAwait(false);
        return node ?? throw new InvalidOperationException($"Orthanc returned no JSON for {path}");
    }

    /// <summary>Uploads a Part 10 file through REST (POST /instances); returns the Orthanc instance id.</summary>
    public async Task<string> UploadAsync(byte[] part10, CancellationToken cancellationToken = default)
    {
        using var content = new ByteArrayContent(part10);
        using var r = await Http.PostAsync("instances", content, cancellationToken).ConfigureAwait(false);
        r.EnsureSuccessStatusCode();
        var json = JsonNode.Parse(await r.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))!;
        return json["ID"]!.GetValue<string>();
    }

    /// <summary>Pushes a resource (patient, study, series or instance id) to a configured modality (C-STORE SCU), synchronously.</summary>
    public async Task<JsonNode> StoreToModalityAsync(string modality, string resourceId, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["Resources"] = new JsonArray(resourceId), ["Synchronous"] = true };
        using var content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var r = await Http.PostAsync($"modalities/{modality}/store", content, cancellationToken).ConfigureAwait(false);
        var text = await r.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!r.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"Orthanc /modalities/{modality}/store failed ({(int)r.StatusCode}): {text}");
        }

        return JsonNode.Parse(text) ?? new JsonObject();
    }

    public void Dispose()
    {
        Http.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"Orthanc pid {ProcessId} http {HttpPort} dicom {DicomPort}");

}
