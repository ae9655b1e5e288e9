using System.CommandLine;
using GenerateCT.Imaging.Nifti;
using Spectre.Console;

namespace GenerateCT.Cli.Imaging;

/// <summary>`gct convert DICOM_DIR OUT.nii.gz`: a CT series to NIfTI through the series assembler.</summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var cmd = new Command("convert", "Convert a DICOM CT series directory to NIfTI-1 (.nii or .nii.gz) in Hounsfield units.");
        var input = new Argument<DirectoryInfo>("DICOM_DIR") { Description = "Folder with the series' Part 10 files." };
        var output = new Argument<FileInfo>("OUT") { Description = "Output .nii or .nii.gz file." };
        cmd.Arguments.Add(input);
        cmd.Arguments.Add(output);
        cmd.SetAction(async (parse, ct) =>
        {
            var dir = parse.GetValue(input)!;
            var outFile = parse.GetValue(output)!;
            if (!dir.Exists)
            {
                throw new CommandFailure($"{dir.FullName} does not exist");
            }

            var volume = await DicomSeries.ReadVolumeAsync(dir.FullName, ct);
            await NiftiFile.WriteAsync(volume, outFile.FullName, cancellationToken: ct);
            AnsiConsole.MarkupLineInterpolated($"{outFile.FullName}: {volume.Depth}×{volume.Height}×{volume.Width} voxels, spacing {volume.Spacing.Z:0.###}×{volume.Spacing.Y:0.###}×{volume.Spacing.X:0.###} mm");
            return 0;
        });
        return cmd;
    }
}
