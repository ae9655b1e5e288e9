using System.Globalization;
using System.Numerics;

namespace GenerateCT.Deid.Keys;

/// <summary>
/// Deterministic, keyed replacements: the same original and site secret always give the same
/// replacement (so series and study structure survive re-sends, and an HL7 report links to its CT
/// by the same pseudonymous accession number), different sites give unrelated ones, and without the
/// secret nothing leads back to the original (HMAC-SHA256).
/// </summary>
public sealed class KeyedPseudonyms(SiteSecret secret)
{
    /// <summary>The largest backward date shift, in days (about ten years).</summary>
    public const int MaxDateShiftDays = 3650;

    /// <summary>
    /// A UID under the 2.25 root (PS3.5 §B.2: "2.25." and the decimal form of a 128-bit integer),
    /// the integer being the first 128 bits of HMAC-SHA256(secret, original). At most 44 characters.
    /// </summary>
    public string Uid(string originalUid)
    {
        var mac = secret.Mac("uid", originalUid.Trim().TrimEnd('\0'));
        var value = new BigInteger(mac.AsSpan(0, 16), isUnsigned: true, isBigEndian: true);
        return "2.25." + value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The per-patient date shift in days, in [-<see cref="MaxDateShiftDays"/>, -1]: every date of a
    /// patient moves by the same amount, so intervals survive (PS3.15 §E.3.6, Retain Longitudinal
    /// Temporal Information with Modified Dates).
    /// </summary>
    public int DateShiftDays(string patientKey)
    {
        var mac = secret.Mac("date-shift", patientKey.Trim());
        var n = BitConverter.ToUInt32(mac, 0);
        return -(int)(1 + n % MaxDateShiftDays);
    }

    /// <summary>A pseudonymous patient identifier (LO): "GCT" and 16 hex digits of the keyed hash.</summary>
    public string PatientId(string originalPatientId) => "GCT" + Hex(secret.Mac("patient-id", originalPatientId.Trim()), 16);

    /// <summary>A pseudonymous accession number (SH, at most 16 characters): "A" and 15 hex digits.</summary>
    public string AccessionNumber(string originalAccession) => "A" + Hex(secret.Mac("accession", originalAccession.Trim()), 15);

    private static string Hex(byte[] mac, int digits) => Convert.ToHexString(mac)[..digits];
}
