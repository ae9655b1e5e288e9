using GenerateCT.Imaging;
using GenerateCT.Imaging.Montage;
using GenerateCT.Imaging.Nifti;
using GenerateCT.Model.Pipeline;

namespace GenerateCT.Cli.Commands;

/// <summary>NIfTI (marked synthetic in descrip/intent_name) and PNG montage outputs through GenerateCT.Imaging.</summary>
internal static class ImagingOutputs
{
    public static async Task<string> WriteAsync(string format, GeneratedVolume v, string stemPath, CancellationToken ct)
    {
        switch (format)
        {
            case "nifti":
                {
                    var path = stemPath + ".nii.gz";
                    await NiftiFile.WriteAsync(v.Volume, path, $"GenerateCT seed={v.Seed}", NiftiStorage.Float32, ct);
                    return path;
                }

            case "png":
                {
                    var path = stemPath + ".png";
                    await VolumeMontage.SavePngAsync(v.Volume, path, CtWindow.Mediastinal, stripSlices: Math.Min(8, v.Volume.Depth), cancellationToken: ct);
                    return path;
                }

            default:
                throw new ArgumentException($"unknown format '{format}'");
        }
    }
}

/// <summary>NIfTI input through GenerateCT.Imaging.</summary>
internal static class ImagingInputs
{
    public static async Task<Volume> ReadVolumeAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"phantom volume {path} is missing", path);
        }

        try
        {
            return (await NiftiFile.ReadAsync(path, ct)).Volume;
        }
        catch (NiftiFormatException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}
