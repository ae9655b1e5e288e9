using System.Globalization;

namespace GenerateCT.Deid.Reports;

/// <summary>MSA-1 acknowledgement codes of the original acknowledgement mode (HL7 v2.5.1 §2.9.2, Table 0008).</summary>
public enum Hl7AckCode
{
    /// <summary>AA: accepted and processed.</summary>
    AA,
    /// <summary>AE: application error; the sender may resend later.</summary>
    AE,
    /// <summary>AR: rejected (wrong type, unparseable); resending the same message will not help.</summary>
    AR,
}

/// <summary>Builds the ACK message answering one received message (HL7 v2.5.1 §2.9, §2.14.8).</summary>
public static class Hl7Acknowledgement
{
    /// <summary>
    /// An ACK with MSH (sending and receiving application/facility swapped from the original),
    /// MSA (code, the original's MSH-10, text) and, for AE/AR, an ERR segment carrying the reason.
    /// </summary>
    public static string Build(Hl7Message? original, Hl7AckCode code, string? text = null)
    {
        var d = original?.Delimiters ?? Hl7Delimiters.Default;
        string F(string segment, int field) => original is null ? "" : Hl7Escaping.Escape(original.Get(segment, field), d);
        var now = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var controlId = "ACK" + DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
        var version = original is null ? "2.5.1" : original.Get("MSH", 12);
        if (version.Length == 0) version = "2.5.1";
        var f = d.Field;
        var msh = string.Join(f, "MSH", d.EncodingCharacters, F("MSH", 5), F("MSH", 6), F("MSH", 3), F("MSH", 4), now, "",
            $"ACK{d.Component}{(original is null ? "" : Hl7Escaping.Escape(original.TriggerEvent, d))}{d.Component}ACK", controlId, "P", version);
        var safeText = Hl7Escaping.Escape(text ?? "", d);
        var msa = string.Join(f, "MSA", code.ToString(), original is null ? "" : Hl7Escaping.Escape(original.ControlId, d), safeText);
        var segments = new List<string> { msh, msa };
        if (code != Hl7AckCode.AA)
        {
            // ERR-3 error code (Table 0357): 207 application internal error, 200 unsupported message type / rejected.
            var errCode = code == Hl7AckCode.AE ? $"207{d.Component}Application internal error{d.Component}HL70357" : $"200{d.Component}Unsupported message type{d.Component}HL70357";
            segments.Add(string.Join(f, "ERR", "", "", errCode, "E", "", "", "", safeText));
        }
        return string.Join('\r', segments) + "\r";
    }
}
