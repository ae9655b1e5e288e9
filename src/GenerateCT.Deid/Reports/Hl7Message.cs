using System.Text;

namespace GenerateCT.Deid.Reports;

/// <summary>
/// An HL7 v2 message split into segments and fields (HL7 v2.5.1 Chapter 2, §2.5–§2.7). Delimiters
/// come from the message's own MSH-1 and MSH-2; values are unescaped (§2.7) only when read, so a
/// delimiter inside an escaped value never splits it.
/// </summary>
public sealed class Hl7Message
{
    private readonly List<string[]> _segments;

    private Hl7Message(Hl7Delimiters delimiters, List<string[]> segments)
    {
        Delimiters = delimiters;
        _segments = segments;
    }

    public Hl7Delimiters Delimiters { get; }

    /// <summary>MSH-9.1 and MSH-9.2, e.g. "ORU" and "R01".</summary>
    public string MessageCode => Get("MSH", 9, component: 1);

    public string TriggerEvent => Get("MSH", 9, component: 2);

    /// <summary>MSH-10, echoed in MSA-2 of the acknowledgement.</summary>
    public string ControlId => Get("MSH", 10);

    public IEnumerable<string> SegmentIds => _segments.Select(s => s[0]);

    /// <summary>Parses one message; segments may end in CR (the standard), LF or CRLF.</summary>
    public static Hl7Message Parse(string text)
    {
        var lines = text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || !lines[0].StartsWith("MSH", StringComparison.Ordinal) || lines[0].Length < 8)
            throw new Hl7ParseException("the message does not start with an MSH segment");
        var fieldSep = lines[0][3];
        var encodingEnd = lines[0].IndexOf(fieldSep, 4);
        var encoding = encodingEnd < 0 ? lines[0][4..] : lines[0][4..encodingEnd];
        if (encoding.Length < 4)
            throw new Hl7ParseException($"MSH-2 encoding characters '{encoding}' are incomplete; expected four (component, repetition, escape, subcomponent)");
        var delimiters = new Hl7Delimiters(fieldSep, encoding[0], encoding[1], encoding[2], encoding[3]);

        var segments = new List<string[]>(lines.Length);
        foreach (var line in lines)
        {
            var t = line.TrimStart('\u000b').TrimEnd('\u001c');
            if (t.Length == 0)
                continue;
            var fields = t.Split(fieldSep);
            if (fields[0].Length != 3)
                throw new Hl7ParseException($"segment '{Truncate(fields[0])}' does not start with a three-character segment id");
            if (fields[0] == "MSH")
            {
                // MSH-1 is the field separator itself, so MSH-n sits at index n-1 after splitting;
                // inserting it makes every segment index fields the same way.
                var msh = new string[fields.Length + 1];
                msh[0] = "MSH";
                msh[1] = fieldSep.ToString();
                Array.Copy(fields, 1, msh, 2, fields.Length - 1);
                fields = msh;
            }
            segments.Add(fields);
        }
        return new Hl7Message(delimiters, segments);
    }

    /// <summary>Every segment with the given id, in order.</summary>
    public IEnumerable<Hl7Segment> Segments(string id)
    {
        foreach (var s in _segments)
        {
            if (s[0] == id)
                yield return new Hl7Segment(s, Delimiters);
        }
    }

    public Hl7Segment? Segment(string id) => Segments(id).Cast<Hl7Segment?>().FirstOrDefault();

    /// <summary>The unescaped value of SEG-field.component.subcomponent in the given repetition of the first such segment, or "" when absent.</summary>
    public string Get(string segment, int field, int component = 1, int repetition = 1, int subcomponent = 1) =>
        Segment(segment)?.Get(field, component, repetition, subcomponent) ?? "";

    private static string Truncate(string s) => s.Length > 16 ? s[..16] : s;
}

/// <summary>The message's delimiters (MSH-1 and MSH-2).</summary>
public readonly record struct Hl7Delimiters(char Field, char Component, char Repetition, char Escape, char Subcomponent)
{
    public static Hl7Delimiters Default { get; } = new('|', '^', '~', '\\', '&');

    public string EncodingCharacters => $"{Component}{Repetition}{Escape}{Subcomponent}";
}

/// <summary>One segment; field numbers are 1-based as in the standard (PID-5 is <c>Get(5)</c>).</summary>
public readonly struct Hl7Segment
{
    private readonly string[] _fields;
    private readonly Hl7Delimiters _d;

    internal Hl7Segment(string[] fields, Hl7Delimiters delimiters)
    {
        _fields = fields;
        _d = delimiters;
    }

    public string Id => _fields[0];

    /// <summary>The raw (still escaped) text of a field, or "".</summary>
    public string Raw(int field) => field < _fields.Length ? _fields[field] : "";

    /// <summary>How many repetitions a field has (0 when empty).</summary>
    public int Repetitions(int field)
    {
        var raw = Raw(field);
        return raw.Length == 0 ? 0 : raw.Split(_d.Repetition).Length;
    }

    public string Get(int field, int component = 1, int repetition = 1, int subcomponent = 1)
    {
        var raw = Raw(field);
        if (Id == "MSH" && field <= 2)
            return raw;
        var reps = raw.Split(_d.Repetition);
        if (repetition > reps.Length)
            return "";
        var comps = reps[repetition - 1].Split(_d.Component);
        if (component > comps.Length)
            return "";
        var subs = comps[component - 1].Split(_d.Subcomponent);
        if (subcomponent > subs.Length)
            return "";
        return Hl7Escaping.Unescape(subs[subcomponent - 1], _d);
    }
}

/// <summary>HL7 v2 escape sequences (HL7 v2.5.1 §2.7).</summary>
public static class Hl7Escaping
{
    /// <summary>
    /// Replaces \F\ \S\ \T\ \R\ \E\ with the delimiters, \Xhh..\ with the bytes it encodes (UTF-8
    /// when valid, else ISO-8859-1), \.br\ and \.sp\ with line breaks; highlighting (\H\ \N\) and
    /// other formatting sequences are dropped. An unterminated escape is kept literally.
    /// </summary>
    public static string Unescape(string value, Hl7Delimiters d)
    {
        if (value.IndexOf(d.Escape) < 0)
            return value;
        var sb = new StringBuilder(value.Length);
        var i = 0;
        while (i < value.Length)
        {
            var c = value[i];
            if (c != d.Escape)
            {
                sb.Append(c);
                i++;
                continue;
            }
            var end = value.IndexOf(d.Escape, i + 1);
            if (end < 0)
            {
                sb.Append(value, i, value.Length - i);
                break;
            }
            var seq = value.Substring(i + 1, end - i - 1);
            switch (seq)
            {
                case "F": sb.Append(d.Field); break;
                case "S": sb.Append(d.Component); break;
                case "T": sb.Append(d.Subcomponent); break;
                case "R": sb.Append(d.Repetition); break;
                case "E": sb.Append(d.Escape); break;
                case ".br": sb.Append('\n'); break;
                case "H" or "N": break;
                default:
                    if (seq.StartsWith(".sp", StringComparison.Ordinal))
                        sb.Append('\n');
                    else if (seq.Length > 1 && seq[0] == 'X' && TryHex(seq.AsSpan(1), out var text))
                        sb.Append(text);
                    else if (seq.Length > 0 && (seq[0] is '.' or 'C' or 'M' or 'Z'))
                    {
                        // Formatting (.in, .ti, .sk, .ce, .fi, .nf) and character-set switches carry no text.
                    }
                    else
                        sb.Append(value, i, end - i + 1);
                    break;
            }
            i = end + 1;
        }
        return sb.ToString();
    }

    /// <summary>Escapes the delimiters in free text so it can be placed in a field.</summary>
    public static string Escape(string value, Hl7Delimiters d)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            if (c == d.Escape) sb.Append(d.Escape).Append('E').Append(d.Escape);
            else if (c == d.Field) sb.Append(d.Escape).Append('F').Append(d.Escape);
            else if (c == d.Component) sb.Append(d.Escape).Append('S').Append(d.Escape);
            else if (c == d.Subcomponent) sb.Append(d.Escape).Append('T').Append(d.Escape);
            else if (c == d.Repetition) sb.Append(d.Escape).Append('R').Append(d.Escape);
            else if (c == '\n') sb.Append(d.Escape).Append(".br").Append(d.Escape);
            else if (c != '\r') sb.Append(c);
        }
        return sb.ToString();
    }

    private static bool TryHex(ReadOnlySpan<char> hex, out string text)
    {
        text = "";
        if (hex.Length % 2 != 0)
            return false;
        try
        {
            var bytes = Convert.FromHexString(hex);
            try
            {
                text = new UTF8Encoding(false, true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                text = Encoding.Latin1.GetString(bytes);
            }
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
