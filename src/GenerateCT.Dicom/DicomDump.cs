using System.Globalization;
using System.Text;

namespace GenerateCT.Dicom;

/// <summary>A human-readable listing of a file in the style of dcmtk's dcmdump (tag, VR, value, length, VM, keyword).</summary>
public static class DicomDump
{
    public static string Format(DicomFile file, int maxValueLength = 64)
    {
        ArgumentNullException.ThrowIfNull(file);
        var sb = new StringBuilder();
        sb.AppendLine("# Dicom-File-Format");
        sb.AppendLine();
        sb.AppendLine("# Dicom-Meta-Information-Header");
        sb.AppendLine("# Used TransferSyntax: Little Endian Explicit");
        Append(sb, file.FileMetaInformation, 0, maxValueLength);
        sb.AppendLine();
        sb.AppendLine("# Dicom-Data-Set");
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Used TransferSyntax: {file.TransferSyntax.Name}");
        Append(sb, file.Dataset, 0, maxValueLength);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, DicomDataset ds, int depth, int max)
    {
        var indent = new string(' ', depth * 2);
        foreach (var e in ds)
        {
            var keyword = DicomDictionary.Lookup(e.Tag)?.Keyword ?? "Unknown";
            switch (e)
            {
                case DicomSequence sq:
                    sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}{e.Tag} SQ (Sequence with {sq.Items.Count} item(s))  # {keyword}");
                    for (int i = 0; i < sq.Items.Count; i++)
                    {
                        sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}  (FFFE,E000) na (Item #{i + 1})");
                        Append(sb, sq.Items[i], depth + 2, max);
                    }

                    break;
                case DicomFragmentSequence f:
                    sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}{e.Tag} {e.VR} (PixelSequence: offset table {f.OffsetTable.Count} entries, {f.Fragments.Count} fragment(s), {f.Fragments.Sum(x => (long)x.Length)} bytes)  # {keyword}");
                    break;
                default:
                    string value;
                    if (e.VR.IsString() || e.VR.ValueSize() > 0 && e.Value.Length <= 64)
                    {
                        value = "[" + (ds.GetString(e.Tag) ?? string.Empty) + "]";
                    }
                    else
                    {
                        value = string.Join('\\', e.Value.Span[..Math.Min(16, e.Value.Length)].ToArray().Select(b => b.ToString("x2", CultureInfo.InvariantCulture))) + (e.Value.Length > 16 ? "..." : string.Empty);
                    }

                    if (value.Length > max)
                    {
                        value = value[..max] + "...";
                    }

                    int vm = e.VR.IsString() ? (e.Value.Length == 0 ? 0 : ds.GetStrings(e.Tag).Length) : e.VR.ValueSize() > 0 ? e.BinaryValueCount : 1;
                    sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}{e.Tag} {e.VR} {value,-40} # {e.Value.Length,4}, {vm} {keyword}");
                    break;
            }
        }
    }
}
