using System.Numerics;

namespace GenerateCT.Dicom;

/// <summary>UIDs (PS3.5 §9) we use, and generation of new ones.</summary>
public static class DicomUid
{
    /// <summary>Our implementation class UID (PS3.7 §D.3.3.2), a 2.25 UUID-derived root.</summary>
    public const string ImplementationClassUid = "2.25.270418362913416624883212497219837219377";

    /// <summary>Implementation version name (≤ 16 chars, PS3.7 §D.3.3.2.3).</summary>
    public const string ImplementationVersionName = "GENERATECT_1_0";

    public const string Verification = "1.2.840.10008.1.1";
    public const string CTImageStorage = "1.2.840.10008.5.1.4.1.1.2";
    public const string EnhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.1";
    public const string SecondaryCaptureImageStorage = "1.2.840.10008.5.1.4.1.1.7";
    public const string BasicTextSRStorage = "1.2.840.10008.5.1.4.1.1.88.11";
    public const string EnhancedSRStorage = "1.2.840.10008.5.1.4.1.1.88.22";
    public const string ComprehensiveSRStorage = "1.2.840.10008.5.1.4.1.1.88.33";

    /// <summary>DICOM application context name (PS3.7 Annex A.2.1).</summary>
    public const string ApplicationContext = "1.2.840.10008.3.1.1.1";

    /// <summary>A new globally unique UID under the 2.25 arc: a random UUID as one decimal integer (PS3.5 §B.2).</summary>
    public static string Generate()
    {
        Span<byte> bytes = stackalloc byte[17];
        Guid.NewGuid().TryWriteBytes(bytes[..16], bigEndian: true, out _);
        bytes[16] = 0;
        var value = new BigInteger(bytes[..16], isUnsigned: true, isBigEndian: true);
        return "2.25." + value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Valid UID syntax: digits and dots, components without leading zeros, ≤ 64 characters (PS3.5 §9.1).</summary>
    public static bool IsValid(string uid)
    {
        if (string.IsNullOrEmpty(uid) || uid.Length > 64)
        {
            return false;
        }

        foreach (var part in uid.Split('.'))
        {
            if (part.Length == 0 || !part.All(char.IsAsciiDigit) || (part.Length > 1 && part[0] == '0'))
            {
                return false;
            }
        }

        return true;
    }
}
