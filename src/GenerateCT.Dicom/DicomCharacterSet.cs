using System.Text;

namespace GenerateCT.Dicom;

/// <summary>
/// Specific Character Set (0008,0005) to .NET encoding, PS3.3 §C.12.1.1.2 and PS3.5 §6.1.
/// Supported without code extensions: the default repertoire, ISO_IR 100 (Latin-1), ISO_IR 192
/// (UTF-8) and the other single-byte ISO 8859 sets; GB18030 and GBK. ISO 2022 escape sequences
/// are not interpreted (the first term's G0/G1 set is used).
/// </summary>
public static class DicomCharacterSet
{
    static DicomCharacterSet()
    {
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
    }

    /// <summary>Encoding for the (first) term of a Specific Character Set value; null/empty means the default repertoire.</summary>
    public static Encoding GetEncoding(string? specificCharacterSet)
    {
        var term = (specificCharacterSet ?? string.Empty).Split('\\')[0].Trim().Replace("ISO 2022 ", "ISO_", StringComparison.Ordinal);
        if (term.Length == 0 && specificCharacterSet?.Contains('\\', StringComparison.Ordinal) == true)
        {
            term = specificCharacterSet.Split('\\')[1].Trim().Replace("ISO 2022 ", "ISO_", StringComparison.Ordinal);
        }

        return term switch
        {
            "" or "ISO_IR 6" or "ISO_IR_6" => Encoding.Latin1, // default repertoire is ASCII; decode leniently as Latin-1
            "ISO_IR 100" or "ISO_IR_100" => Encoding.Latin1,
            "ISO_IR 192" => new UTF8Encoding(false),
            "ISO_IR 101" or "ISO_IR_101" => Encoding.GetEncoding("iso-8859-2"),
            "ISO_IR 109" or "ISO_IR_109" => Encoding.GetEncoding("iso-8859-3"),
            "ISO_IR 110" or "ISO_IR_110" => Encoding.GetEncoding("iso-8859-4"),
            "ISO_IR 144" or "ISO_IR_144" => Encoding.GetEncoding("iso-8859-5"),
            "ISO_IR 127" or "ISO_IR_127" => Encoding.GetEncoding("iso-8859-6"),
            "ISO_IR 126" or "ISO_IR_126" => Encoding.GetEncoding("iso-8859-7"),
            "ISO_IR 138" or "ISO_IR_138" => Encoding.GetEncoding("iso-8859-8"),
            "ISO_IR 148" or "ISO_IR_148" => Encoding.GetEncoding("iso-8859-9"),
            "ISO_IR 203" or "ISO_IR_203" => Encoding.GetEncoding("iso-8859-15"),
            "ISO_IR 166" or "ISO_IR_166" => Encoding.GetEncoding("windows-874"),
            "GB18030" => Encoding.GetEncoding("GB18030"),
            "GBK" => Encoding.GetEncoding("GBK"),
            _ => throw new DicomNotSupportedException($"Specific Character Set '{specificCharacterSet}' is not supported; supported: ISO_IR 100, ISO_IR 192 and single-byte ISO 8859 sets"),
        };
    }
}
