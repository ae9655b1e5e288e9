namespace GenerateCT.Dicom;

/// <summary>Value representations of PS3.5 §6.2 (table 6.2-1).</summary>
public enum DicomVR
{
    AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV,
}

/// <summary>Encoding properties of each VR (PS3.5 §6.2, §7.1.2).</summary>
public static class DicomVRInfo
{
    /// <summary>Explicit VR uses 2 reserved bytes and a 32-bit length for these VRs (PS3.5 §7.1.2, table 7.1-1).</summary>
    public static bool HasLongLength(this DicomVR vr) => vr is DicomVR.OB or DicomVR.OD or DicomVR.OF or DicomVR.OL or DicomVR.OV
        or DicomVR.OW or DicomVR.SQ or DicomVR.SV or DicomVR.UC or DicomVR.UN or DicomVR.UR or DicomVR.UT or DicomVR.UV;

    /// <summary>Character-string VRs: values are text, multiple values separated by backslash.</summary>
    public static bool IsString(this DicomVR vr) => vr is DicomVR.AE or DicomVR.AS or DicomVR.CS or DicomVR.DA or DicomVR.DS
        or DicomVR.DT or DicomVR.IS or DicomVR.LO or DicomVR.LT or DicomVR.PN or DicomVR.SH or DicomVR.ST or DicomVR.TM
        or DicomVR.UC or DicomVR.UI or DicomVR.UR or DicomVR.UT;

    /// <summary>VRs whose text is subject to Specific Character Set (PS3.5 §6.1.2.3); the rest are the default repertoire.</summary>
    public static bool UsesCharacterSet(this DicomVR vr) => vr is DicomVR.SH or DicomVR.LO or DicomVR.ST or DicomVR.LT
        or DicomVR.PN or DicomVR.UC or DicomVR.UT;

    /// <summary>Single-valued text VRs: a backslash is part of the value, not a separator.</summary>
    public static bool IsSingleValuedText(this DicomVR vr) => vr is DicomVR.LT or DicomVR.ST or DicomVR.UT or DicomVR.UR;

    /// <summary>Byte size of one binary value, used to swap byte order and to count values; 0 for text, SQ and byte data.</summary>
    public static int ValueSize(this DicomVR vr) => vr switch
    {
        DicomVR.US or DicomVR.SS or DicomVR.OW or DicomVR.AT => 2,
        DicomVR.UL or DicomVR.SL or DicomVR.FL or DicomVR.OF or DicomVR.OL => 4,
        DicomVR.FD or DicomVR.OD or DicomVR.SV or DicomVR.UV or DicomVR.OV => 8,
        _ => 0,
    };

    /// <summary>Padding byte for odd-length values: NUL for UI and byte data, space for text (PS3.5 §6.2).</summary>
    public static byte PaddingByte(this DicomVR vr) => vr.IsString() && vr != DicomVR.UI ? (byte)' ' : (byte)0;

    internal static bool TryParse(byte a, byte b, out DicomVR vr)
    {
        vr = default;
        if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
        {
            return false;
        }

        return Enum.TryParse(new string([(char)a, (char)b]), ignoreCase: false, out vr) && Enum.IsDefined(vr);
    }
}
