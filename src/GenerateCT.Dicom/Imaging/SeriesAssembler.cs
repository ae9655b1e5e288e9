using System.Globalization;
using GenerateCT.Imaging;

namespace GenerateCT.Dicom.Imaging;

/// <summary>Tolerances of <see cref="SeriesAssembler"/>.</summary>
public sealed class SeriesAssemblerOptions
{
    /// <summary>Slice gaps may differ from the median by this many mm (or <see cref="RelativeSpacingTolerance"/>, whichever is larger).</summary>
    public double SpacingToleranceMm { get; set; } = 0.05;

    public double RelativeSpacingTolerance { get; set; } = 0.01;

    /// <summary>Direction cosines closer than this are the same orientation.</summary>
    public double OrientationTolerance { get; set; } = 1e-3;

    /// <summary>Fewer slices than this is not a volume.</summary>
    public int MinimumSlices { get; set; } = 2;

    /// <summary>Split a series with inconsistent spacing into runs of constant spacing instead of rejecting it.</summary>
    public bool SplitInconsistentSpacing { get; set; }
}

/// <summary>A volume built from (part of) one series.</summary>
public sealed record AssembledSeries(
    string StudyInstanceUid,
    string SeriesInstanceUid,
    Volume Volume,
    IReadOnlyList<string> SopInstanceUids,
    string? ConvolutionKernel,
    string? Note);

/// <summary>Instances of a series that did not become a volume, and why.</summary>
public sealed record RejectedSeries(string StudyInstanceUid, string SeriesInstanceUid, int InstanceCount, string Reason);

public sealed record SeriesAssemblyResult(IReadOnlyList<AssembledSeries> Volumes, IReadOnlyList<RejectedSeries> Rejected);

/// <summary>
/// Builds Hounsfield-unit volumes from single-frame CT instances: groups by Study/Series Instance UID,
/// splits by orientation, matrix, pixel spacing and reconstruction kernel, sorts slices by position
/// along the normal n = row × column of Image Orientation (Patient) (PS3.3 §C.7.6.2.1.1), applies
/// Rescale Slope/Intercept (§C.11.1.1.2), and rejects series with missing slices, duplicate
/// positions, uneven spacing or slices not stacked along the normal — each with its reason.
/// </summary>
public static class SeriesAssembler
{
    public static SeriesAssemblyResult Assemble(IEnumerable<DicomFile> instances, SeriesAssemblerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(instances);
        var o = options ?? new SeriesAssemblerOptions();
        var volumes = new List<AssembledSeries>();
        var rejected = new List<RejectedSeries>();
        var bySeries = instances.GroupBy(f => (Study: f.Dataset.GetUid(DicomTag.StudyInstanceUID) ?? string.Empty, Series: f.Dataset.GetUid(DicomTag.SeriesInstanceUID) ?? string.Empty));
        foreach (var series in bySeries)
        {
            var (study, seriesUid) = series.Key;
            var slices = new List<Slice>();
            var unusable = new List<string>();
            foreach (var f in series)
            {
                if (Slice.TryCreate(f, out var s, out var why))
                {
                    slices.Add(s);
                }
                else
                {
                    unusable.Add(why);
                }
            }

            if (unusable.Count > 0)
            {
                rejected.Add(new RejectedSeries(study, seriesUid, unusable.Count, $"{unusable.Count} instance(s) unusable: {unusable.Distinct().First()}"));
            }

            var groups = slices.GroupBy(s => s.GeometryKey(o.OrientationTolerance)).ToList();
            string? splitNote = groups.Count > 1
                ? $"series split into {groups.Count} volumes by orientation/matrix/pixel spacing/kernel ({string.Join("; ", groups.Select(g => g.Key))})"
                : null;
            foreach (var g in groups)
            {
                AssembleGroup(study, seriesUid, g.ToList(), splitNote, o, volumes, rejected);
            }
        }

        return new SeriesAssemblyResult(volumes, rejected);
    }

    /// <summary>Reads every file under <paramref name="directory"/> (unreadable files are reported as rejected) and assembles.</summary>
    public static async Task<SeriesAssemblyResult> AssembleDirectoryAsync(string directory, SeriesAssemblerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var files = new List<DicomFile>();
        var bad = new List<RejectedSeries>();
        foreach (var path in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            try
            {
                files.Add(await DicomFile.OpenAsync(path, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is DicomParseException or DicomNotSupportedException)
            {
                bad.Add(new RejectedSeries(string.Empty, string.Empty, 1, ex.Message));
            }
        }

        var result = Assemble(files, options);
        return result with { Rejected = [.. bad, .. result.Rejected] };
    }

    private static void AssembleGroup(string study, string series, List<Slice> slices, string? splitNote, SeriesAssemblerOptions o, List<AssembledSeries> volumes, List<RejectedSeries> rejected)
    {
        void Reject(string reason, int count) => rejected.Add(new RejectedSeries(study, series, count, reason));
        if (slices.Count < o.MinimumSlices)
        {
            Reject($"{slices.Count} slice(s) with this geometry; a volume needs at least {o.MinimumSlices}", slices.Count);
            return;
        }

        var first = slices[0];
        var normal = first.Normal;
        slices.Sort((a, b) => a.PositionAlong(normal).CompareTo(b.PositionAlong(normal)));

        if (NotStacked(slices, first) is { } notStacked)
        {
            Reject(notStacked, slices.Count);
            return;
        }

        var gaps = new double[slices.Count - 1];
        for (int i = 0; i < gaps.Length; i++)
        {
            gaps[i] = slices[i + 1].PositionAlong(normal) - slices[i].PositionAlong(normal);
        }

        if (gaps.Length > 0 && gaps.Min() < 1e-3)
        {
            int i = Array.FindIndex(gaps, g => g < 1e-3);
            Reject($"duplicate slice position {F(slices[i].PositionAlong(normal))} mm ({slices[i].SopInstanceUid}, {slices[i + 1].SopInstanceUid}): several acquisitions or phases in one series", slices.Count);
            return;
        }

        double median = Median(gaps);
        string? firstProblem = FirstSpacingProblem(slices, normal, gaps, median, Math.Max(o.SpacingToleranceMm, o.RelativeSpacingTolerance * median));
        var runs = ConstantSpacingRuns(slices, gaps, o);
        if (firstProblem is null)
        {
            volumes.Add(Build(study, series, slices, median, splitNote));
            return;
        }

        if (!o.SplitInconsistentSpacing)
        {
            Reject(firstProblem!, slices.Count);
            return;
        }

        foreach (var run in runs)
        {
            if (run.Count < Math.Max(o.MinimumSlices, 2))
            {
                Reject($"{firstProblem}; a run of {run.Count} slice(s) is too short to keep", run.Count);
                continue;
            }

            double spacing = Median([.. run.Zip(run.Skip(1), (a, b) => b.PositionAlong(normal) - a.PositionAlong(normal))]);
            volumes.Add(Build(study, series, run, spacing, $"split at spacing change ({firstProblem})"));
        }
    }

    /// <summary>
    /// Slices must be stacked along the normal: in-plane coordinates of every IPP equal the first's (no tilt, no shift).
    /// Returns the rejection reason for the first slice that is not, or null.
    /// </summary>
    private static string? NotStacked(List<Slice> slices, Slice first)
    {
        foreach (var s in slices)
        {
            double du = Dot(Sub(s.Position, slices[0].Position), first.Row);
            double dv = Dot(Sub(s.Position, slices[0].Position), first.Column);
            if (Math.Abs(du) > 0.1 || Math.Abs(dv) > 0.1)
            {
                return $"slice {s.SopInstanceUid} is offset {du:F2}/{dv:F2} mm in-plane: slices are not stacked along the normal (gantry tilt?)";
            }
        }

        return null;
    }

    /// <summary>The first gap that differs from the median by more than <paramref name="tol"/>, described as missing slices (a whole multiple) or inconsistent spacing; null when none does.</summary>
    private static string? FirstSpacingProblem(List<Slice> slices, double[] normal, double[] gaps, double median, double tol)
    {
        for (int i = 0; i < gaps.Length; i++)
        {
            if (Math.Abs(gaps[i] - median) > tol)
            {
                double ratio = gaps[i] / median;
                return Math.Abs(ratio - Math.Round(ratio)) * median <= tol && Math.Round(ratio) >= 2
                    ? $"missing slice(s): gap of {F(gaps[i])} mm after position {F(slices[i].PositionAlong(normal))} mm, expected {F(median)} mm"
                    : $"inconsistent spacing: gap of {F(gaps[i])} mm after position {F(slices[i].PositionAlong(normal))} mm, median {F(median)} mm";
            }
        }

        return null;
    }

    /// <summary>Greedy runs of constant spacing (used only when splitting is requested).</summary>
    private static List<List<Slice>> ConstantSpacingRuns(List<Slice> slices, double[] gaps, SeriesAssemblerOptions o)
    {
        var runs = new List<List<Slice>> { new() { slices[0] } };
        double? runSpacing = null;
        for (int i = 0; i < gaps.Length; i++)
        {
            if (runSpacing is { } rs && Math.Abs(gaps[i] - rs) > Math.Max(o.SpacingToleranceMm, o.RelativeSpacingTolerance * rs))
            {
                runs.Add([]);
                runSpacing = null;
            }
            else
            {
                runSpacing ??= gaps[i];
            }

            runs[^1].Add(slices[i + 1]);
        }

        return runs;
    }

    private static AssembledSeries Build(string study, string series, List<Slice> slices, double spacing, string? note)
    {
        var f = slices[0];
        var volume = new Volume(slices.Count, f.Rows, f.Columns)
        {
            Spacing = (spacing, f.PixelSpacing.Row, f.PixelSpacing.Column),
            Origin = (f.Position[0], f.Position[1], f.Position[2]),
            Direction = [f.Row[0], f.Row[1], f.Row[2], f.Column[0], f.Column[1], f.Column[2], f.Normal[0], f.Normal[1], f.Normal[2]],
            Unit = "HU",
        };
        for (int z = 0; z < slices.Count; z++)
        {
            var s = slices[z];
            var stored = DicomPixelData.GetStoredValues(s.File.Dataset, s.File.TransferSyntax);
            var dst = volume.Slice(z);
            if (stored.Length != dst.Length)
            {
                throw new DicomParseException($"{s.SopInstanceUid}: {stored.Length} pixels, expected {dst.Length}");
            }

            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] = (float)(stored[i] * s.Slope + s.Intercept);
            }
        }

        return new AssembledSeries(study, series, volume, [.. slices.Select(s => s.SopInstanceUid)], f.Kernel, note);
    }

    private static double Median(double[] values)
    {
        if (values.Length == 0)
        {
            return 1;
        }

        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    private static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

    private static double[] Sub(double[] a, double[] b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

    private sealed class Slice
    {
        public required DicomFile File { get; init; }

        public required string SopInstanceUid { get; init; }

        public required double[] Row { get; init; }

        public required double[] Column { get; init; }

        public required double[] Normal { get; init; }

        public required double[] Position { get; init; }

        public required int Rows { get; init; }

        public required int Columns { get; init; }

        public required (double Row, double Column) PixelSpacing { get; init; }

        public required double Slope { get; init; }

        public required double Intercept { get; init; }

        public string? Kernel { get; init; }

        public double PositionAlong(double[] n) => Dot(Position, n);

        public string GeometryKey(double tol)
        {
            static string R(double v, double t) => Math.Round(v / t).ToString(CultureInfo.InvariantCulture);
            return $"IOP {string.Join(',', Row.Concat(Column).Select(v => R(v, tol * 10)))} {Rows}x{Columns} px {F(PixelSpacing.Row)}/{F(PixelSpacing.Column)} kernel {Kernel ?? "-"}";
        }

        public static bool TryCreate(DicomFile f, out Slice slice, out string reason)
        {
            slice = null!;
            var ds = f.Dataset;
            var uid = ds.GetUid(DicomTag.SOPInstanceUID) ?? "?";
            reason = string.Empty;
            if (!ds.Contains(DicomTag.PixelData))
            {
                reason = $"{uid} has no pixel data";
                return false;
            }

            if (ds.TryGetInt32(DicomTag.NumberOfFrames, out var frames) && frames > 1)
            {
                reason = $"{uid} is multi-frame ({frames} frames); only single-frame CT is assembled";
                return false;
            }

            if ((ds.TryGetInt32(DicomTag.SamplesPerPixel, out var spp) ? spp : 1) != 1)
            {
                reason = $"{uid} is not grayscale";
                return false;
            }

            var iop = ds.GetDoubles(DicomTag.ImageOrientationPatient);
            var ipp = ds.GetDoubles(DicomTag.ImagePositionPatient);
            var ps = ds.GetDoubles(DicomTag.PixelSpacing);
            if (iop.Length != 6 || ipp.Length != 3 || ps.Length != 2)
            {
                reason = $"{uid} lacks Image Orientation/Position (Patient) or Pixel Spacing";
                return false;
            }

            double[] row = Normalize(iop[..3]), col = Normalize(iop[3..]);
            double[] n = [row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0]];
            if (Math.Abs(Dot(row, col)) > 1e-3 || Math.Sqrt(Dot(n, n)) < 0.5)
            {
                reason = $"{uid} has non-orthogonal Image Orientation (Patient)";
                return false;
            }

            slice = new Slice
            {
                File = f,
                SopInstanceUid = uid,
                Row = row,
                Column = col,
                Normal = Normalize(n),
                Position = ipp,
                Rows = ds.GetInt32(DicomTag.Rows),
                Columns = ds.GetInt32(DicomTag.Columns),
                PixelSpacing = (ps[0], ps[1]),
                Slope = ds.TryGetDouble(DicomTag.RescaleSlope, out var m) ? m : 1,
                Intercept = ds.TryGetDouble(DicomTag.RescaleIntercept, out var b) ? b : 0,
                Kernel = ds.GetString(DicomTag.ConvolutionKernel),
            };
            return true;
        }

        private static double[] Normalize(double[] v)
        {
            double l = Math.Sqrt(Dot(v, v));
            return l == 0 ? v : [v[0] / l, v[1] / l, v[2] / l];
        }
    }
}
