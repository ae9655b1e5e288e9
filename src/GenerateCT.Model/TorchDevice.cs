using TorchSharp;

namespace GenerateCT.Model;

/// <summary>Chooses the compute device: CUDA when the build (TorchBackend=cuda) and the host have it, else CPU.</summary>
public static class TorchDevice
{
    /// <summary>The device to run on; <paramref name="requested"/> is "auto", "cpu", "cuda" or "cuda:N".</summary>
    public static torch.Device Select(string requested = "auto")
    {
        if (string.Equals(requested, "auto", StringComparison.OrdinalIgnoreCase))
        {
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }

        if (requested.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) && !torch.cuda.is_available())
        {
            throw new InvalidOperationException($"device '{requested}' was requested but CUDA is not available (build with -p:TorchBackend=cuda on a host with an NVIDIA driver)");
        }

        return new torch.Device(requested);
    }

    /// <summary>A one-line description for logs and benchmark JSON, e.g. "cpu (2 threads)".</summary>
    public static string Describe(torch.Device device) =>
        device.type == DeviceType.CUDA
            ? $"cuda:{device.index} ({torch.cuda.device_count()} visible)"
            : $"cpu ({torch.get_num_threads()} threads)";
}
