namespace GenerateCT.Deid.Reports;

/// <summary>A person's name split into its parts (HL7 XPN/XCN, DICOM PN components).</summary>
public sealed record PersonName(string Family, string Given = "", string Middle = "", string Prefix = "", string Suffix = "")
{
    /// <summary>Parses a DICOM PN value "Family^Given^Middle^Prefix^Suffix" (first component group only).</summary>
    public static PersonName FromDicom(string pn)
    {
        var alphabetic = pn.Split('=')[0];
        var p = alphabetic.Split('^');
        string At(int i) => i < p.Length ? p[i].Trim() : "";
        return new PersonName(At(0), At(1), At(2), At(3), At(4));
    }

    /// <summary>The parts worth searching for in text: every word of the family, given and middle names.</summary>
    public IEnumerable<string> SearchTokens() =>
        new[] { Family, Given, Middle }
            .SelectMany(s => s.Split([' ', '-', ',', '.', '\''], StringSplitOptions.RemoveEmptyEntries))
            .Where(t => t.Length >= 2);
}
