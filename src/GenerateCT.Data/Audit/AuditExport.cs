using System.Globalization;
using System.Text;
using System.Text.Json;

namespace GenerateCT.Data.Audit;

/// <summary>The formats an audit export can be written in.</summary>
public enum AuditExportFormat
{
    /// <summary>RFC 5424 syslog lines in the style of IHE ATNA (ITI TF-2 §3.20.8).</summary>
    Syslog,

    /// <summary>One JSON object per line (JSON Lines).</summary>
    Json,
}

/// <summary>Turns audit rows into lines for a SIEM or an archive.</summary>
public static class AuditExport
{
    /// <summary>APP-NAME of the syslog lines.</summary>
    public const string AppName = "generatect-node";

    /// <summary>
    /// SD-ID of the structured data element. "@32473" is the documentation enterprise number of
    /// RFC 5612; a deployment that forwards to a SIEM keyed on private enterprise numbers maps it.
    /// </summary>
    public const string StructuredDataId = "gct-audit@32473";

    /// <summary>Facility 10 (security/authorization), severity 5 (notice): PRI 85, as IHE ATNA senders use.</summary>
    private const int Priority = (10 * 8) + 5;

    public static AuditExportFormat ParseFormat(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "syslog" => AuditExportFormat.Syslog,
        "json" => AuditExportFormat.Json,
        _ => throw new ArgumentException($"unknown audit export format '{value}': use 'syslog' or 'json'", nameof(value)),
    };

    public static string Format(AuditRecord record, AuditExportFormat format, string hostName) => format switch
    {
        AuditExportFormat.Syslog => ToSyslog(record, hostName),
        AuditExportFormat.Json => ToJson(record),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    /// <summary>
    /// RFC 5424 §6: <c>&lt;PRI&gt;1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG</c>. MSGID is the
    /// action's kind (the part before ':', e.g. GRPC, DICOM); the structured data carries user,
    /// action, outcome, sequence and hashes; MSG is the row's JSON detail.
    /// </summary>
    public static string ToSyslog(AuditRecord record, string hostName)
    {
        var kind = record.Action.Split(':', 2)[0];
        var msgId = SyslogToken(kind.ToUpperInvariant(), 32);
        var sb = new StringBuilder(256);
        sb.Append('<').Append(Priority.ToString(CultureInfo.InvariantCulture)).Append(">1 ");
        sb.Append(record.OccurredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)).Append(' ');
        sb.Append(SyslogToken(hostName, 255)).Append(' ');
        sb.Append(AppName).Append(" - ");
        sb.Append(msgId).Append(' ');
        sb.Append('[').Append(StructuredDataId);
        Param(sb, "seq", record.Sequence.ToString(CultureInfo.InvariantCulture));
        Param(sb, "user", record.Actor);
        Param(sb, "action", record.Action);
        Param(sb, "outcome", record.Outcome);
        Param(sb, "prevHash", Convert.ToHexStringLower(record.PreviousHash));
        Param(sb, "hash", Convert.ToHexStringLower(record.Hash));
        sb.Append(']');
        if (record.Detail is not null)
        {
            // MSG-ANY (no BOM): the detail is JSON without line breaks (jsonb's text form).
            sb.Append(' ').Append(record.Detail.Replace('\n', ' ').Replace('\r', ' '));
        }

        return sb.ToString();
    }

    public static string ToJson(AuditRecord record)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", record.Sequence);
            w.WriteString("occurredAt", record.OccurredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            w.WriteString("user", record.Actor);
            w.WriteString("action", record.Action);
            w.WriteString("outcome", record.Outcome);
            w.WritePropertyName("detail");
            if (record.Detail is null)
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteRawValue(record.Detail);
            }

            w.WriteString("prevHash", Convert.ToHexStringLower(record.PreviousHash));
            w.WriteString("hash", Convert.ToHexStringLower(record.Hash));
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>RFC 5424 §6.3.3: inside PARAM-VALUE, '"', '\' and ']' are escaped with '\'.</summary>
    private static void Param(StringBuilder sb, string name, string value)
    {
        sb.Append(' ').Append(name).Append("=\"");
        foreach (var c in value)
        {
            if (c is '"' or '\\' or ']')
            {
                sb.Append('\\');
            }

            sb.Append(c is '\n' or '\r' ? ' ' : c);
        }

        sb.Append('"');
    }

    /// <summary>HOSTNAME and MSGID are PRINTUSASCII (33–126) without spaces; "-" when empty.</summary>
    private static string SyslogToken(string value, int maxLength)
    {
        var token = new string(value.Where(c => c is > (char)32 and < (char)127).Take(maxLength).ToArray());
        return token.Length == 0 ? "-" : token;
    }
}
