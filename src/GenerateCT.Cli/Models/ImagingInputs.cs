using GenerateCT.Imaging;
using GenerateCT.Imaging.Nifti;

namespace GenerateCT.Cli.Models;

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
