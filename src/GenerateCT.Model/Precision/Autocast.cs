using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace GenerateCT.Model.Precision;

/// <summary>
/// libtorch's automatic mixed precision region (the C++ behind PyTorch's <c>torch.autocast</c>): while
/// enabled on a device type, eligible ops (matmul, linear, convolutions, …) run in the chosen reduced
/// type and precision-sensitive ones (softmax, norms, losses, …) in float32, by libtorch's own op lists;
/// weights stay float32 (their casts are cached for the region and dropped when the outermost region
/// ends). TorchSharp 0.107 does not bind autocast (dotnet/TorchSharp#899, PR #1235 unmerged), so the
/// four <c>at::autocast</c> entry points are called directly from the libtorch that TorchSharp loaded.
/// The state is thread-local in libtorch: enter, run the forward and leave on the same thread.
/// </summary>
public sealed class Autocast : IDisposable
{
    private readonly DeviceType _device;
    private readonly bool _previousEnabled;
    private readonly sbyte _previousType;
    private readonly bool _enabled;
    private bool _disposed;

    /// <summary>Enters an autocast region on <paramref name="device"/> with <paramref name="type"/> (BFloat16 or Float16).</summary>
    public Autocast(DeviceType device, ScalarType type)
        : this(device, type, enabled: true)
    {
    }

    private Autocast(DeviceType device, ScalarType type, bool enabled)
    {
        var api = Native.Value;
        _device = device;
        _enabled = enabled;
        _previousEnabled = api.IsEnabled((sbyte)device);
        _previousType = api.GetAutocastType((sbyte)device);
        if (enabled)
        {
            api.SetType((sbyte)device, (sbyte)type);
        }

        api.SetEnabled((sbyte)device, enabled);
        api.IncrementNesting();
    }

    /// <summary>A region where autocast is off (e.g. the EMA codebook, which the reference also runs in float32).</summary>
    public static Autocast Disabled(DeviceType device) => new(device, ScalarType.Float32, enabled: false);

    /// <summary>True while an autocast region is active on <paramref name="device"/> on this thread.</summary>
    public static bool IsEnabled(DeviceType device) => IsAvailable && Native.Value.IsEnabled((sbyte)device);

    /// <summary>True when this libtorch exports the autocast entry points (every libtorch ≥ 2.4 does).</summary>
    public static bool IsAvailable => Available.Value;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        var api = Native.Value;
        // As torch.autocast.__exit__: the weight-cast cache lives until the outermost region ends.
        if (api.DecrementNesting() == 0)
        {
            api.ClearCache();
        }

        api.SetEnabled((sbyte)_device, _previousEnabled);
        if (_enabled)
        {
            api.SetType((sbyte)_device, _previousType);
        }
    }

    private static readonly Lazy<Api> Native = new(Api.Bind);

    private static readonly Lazy<bool> Available = new(() =>
    {
        try
        {
            _ = Native.Value;
            return true;
        }
        catch (NotSupportedException)
        {
            return false;
        }
    });

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetEnabledFn(sbyte device, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool IsEnabledFn(sbyte device);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetTypeFn(sbyte device, sbyte type);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate sbyte GetTypeFn(sbyte device);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate long NestingFn();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void ClearCacheFn();

    private sealed record Api(
        SetEnabledFn SetEnabled,
        IsEnabledFn IsEnabled,
        SetTypeFn SetType,
        GetTypeFn GetAutocastType,
        NestingFn IncrementNesting,
        NestingFn DecrementNesting,
        ClearCacheFn ClearCache)
    {
        // Itanium C++ ABI names of at::autocast functions (aten/src/ATen/autocast_mode.h); c10::DeviceType and
        // c10::ScalarType are int8 enums, so they pass as sbyte.
        private const string SetEnabledName = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb";
        private const string IsEnabledName = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE";
        private const string SetTypeName = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE";
        private const string GetTypeName = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE";
        private const string IncrementName = "_ZN2at8autocast17increment_nestingEv";
        private const string DecrementName = "_ZN2at8autocast17decrement_nestingEv";
        private const string ClearCacheName = "_ZN2at8autocast11clear_cacheEv";

        public static Api Bind()
        {
            // Make sure TorchSharp has loaded its native stack, then resolve through LibTorchSharp, whose
            // dependency tree includes libtorch_cpu (where ATen's autocast lives, for CPU and CUDA builds).
            torch.InitializeDeviceType(DeviceType.CPU);
            var handles = new List<IntPtr>();
            foreach (var name in new[] { "LibTorchSharp", "torch_cpu", "libtorch_cpu.so" })
            {
                if (NativeLibrary.TryLoad(name, typeof(torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories, out var handle))
                {
                    handles.Add(handle);
                }
            }

            T Resolve<T>(string symbol) where T : Delegate
            {
                foreach (var handle in handles)
                {
                    if (NativeLibrary.TryGetExport(handle, symbol, out var address))
                    {
                        return Marshal.GetDelegateForFunctionPointer<T>(address);
                    }
                }

                throw new NotSupportedException(
                    $"mixed precision needs libtorch's autocast ({symbol}), which the loaded libtorch does not export; train with --precision fp32");
            }

            return new Api(
                Resolve<SetEnabledFn>(SetEnabledName),
                Resolve<IsEnabledFn>(IsEnabledName),
                Resolve<SetTypeFn>(SetTypeName),
                Resolve<GetTypeFn>(GetTypeName),
                Resolve<NestingFn>(IncrementName),
                Resolve<NestingFn>(DecrementName),
                Resolve<ClearCacheFn>(ClearCacheName));
        }
    }
}
