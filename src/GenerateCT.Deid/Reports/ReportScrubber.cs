using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace GenerateCT.Deid.Reports;

/// <summary>What a scrubbed span was.</summary>
public enum PhiKind
{
    Name,
    Date,
    Identifier,
    Phone,
    Email,
    Url,
    Address,
    Age,
    Institution,
}

/// <summary>One span of the original text the scrubber replaced.</summary>
public readonly record struct ScrubbedSpan(int Start, int Length, PhiKind Kind, string Replacement);

/// <summary>The scrubbed text and what was replaced.</summary>
public sealed record ScrubResult(string Text, IReadOnlyList<ScrubbedSpan> Spans);

/// <summary>What the scrubber knows about one report besides its text.</summary>
public sealed record ScrubContext
{
    /// <summary>People named by the message's own fields (patient, physicians).</summary>
    public IReadOnlyList<PersonName> Names { get; init; } = [];

    /// <summary>Identifiers from the message's own fields, removed wherever they occur.</summary>
    public IReadOnlyList<string> Identifiers { get; init; } = [];

    /// <summary>Days to shift dates by (the patient's DICOM date shift); null replaces dates with "[DATE]".</summary>
    public int? DateShiftDays { get; init; }
}

/// <summary>
/// Removes protected health information from free-text radiology reports: the names and identifiers
/// of the message's own fields wherever they occur, names from a name list and after titles and
/// role phrases ("Dr.", "signed by"), dates (shifted by the patient's DICOM date shift so intervals
/// survive, each in its own format), identifiers (MRN, accession, long digit runs, SSN), phone and
/// fax numbers, e-mail addresses, URLs, street addresses and ZIP codes, and ages over 89 (HIPAA
/// Safe Harbor, 45 CFR §164.514(b)(2)(i)). Clinical text is left as it is.
/// </summary>
public sealed partial class ReportScrubber
{
    private static readonly Lazy<HashSet<string>> NameList = new(LoadNameList);

    /// <summary>Capitalised words that follow titles or role phrases but are not names.</summary>
    private static readonly HashSet<string> NotNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "the", "a", "an", "and", "or", "of", "on", "in", "at", "by", "to", "for", "with", "from", "via", "per",
        "emergency", "department", "ed", "er", "icu", "team", "service", "clinic", "radiology", "surgery", "oncology",
        "pulmonology", "cardiology", "medicine", "internal", "family", "nurse", "nursing", "patient", "physician",
        "referring", "ordering", "attending", "resident", "fellow", "staff", "on-call", "call", "covering", "primary",
        "care", "provider", "office", "floor", "ward", "unit", "thoracic", "chest", "ct", "mri", "pet", "findings",
        "impression", "technique", "comparison", "history", "indication", "report", "exam", "examination", "study",
        "signed", "electronically", "date", "time", "phone", "fax", "pager", "md", "do", "phd", "rn", "pa", "np",
        "mrn", "id", "no", "none", "not", "is", "was", "were", "be", "who", "this", "that", "these", "those",
        "at", "as", "result", "results", "critical", "finding", "hospital", "center", "medical", "university",
        "left", "right", "upper", "lower", "middle", "lobe", "lung", "lungs", "heart", "liver", "noted", "seen",
    };

    /// <summary>Scrubs <paramref name="text"/> using what <paramref name="context"/> knows.</summary>
    public ScrubResult Scrub(string text, ScrubContext context)
    {
        var spans = new List<ScrubbedSpan>();

        // Order matters only for overlaps: earlier detectors win, longer spans win within a detector.
        AddMatches(spans, EmailRegex(), text, PhiKind.Email, _ => "[EMAIL]");
        AddMatches(spans, UrlRegex(), text, PhiKind.Url, _ => "[URL]");
        AddKnownIdentifiers(spans, text, context.Identifiers);
        AddDates(spans, text, context.DateShiftDays);
        AddMatches(spans, LabelledIdentifierRegex(), text, PhiKind.Identifier, _ => "[ID]", group: "value");
        AddMatches(spans, SsnRegex(), text, PhiKind.Identifier, _ => "[ID]");
        AddMatches(spans, PhoneRegex(), text, PhiKind.Phone, _ => "[PHONE]");
        AddMatches(spans, StreetRegex(), text, PhiKind.Address, _ => "[ADDRESS]");
        AddMatches(spans, CityStateZipRegex(), text, PhiKind.Address, _ => "[ADDRESS]");
        AddMatches(spans, PoBoxRegex(), text, PhiKind.Address, _ => "[ADDRESS]");
        AddMatches(spans, InstitutionRegex(), text, PhiKind.Institution, _ => "[INSTITUTION]");
        AddMatches(spans, LongNumberRegex(), text, PhiKind.Identifier, _ => "[ID]");
        AddAges(spans, text);
        AddKnownNames(spans, text, context.Names);
        AddTitledNames(spans, text);
        AddListedNames(spans, text);

        spans.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.Length.CompareTo(a.Length));
        var kept = new List<ScrubbedSpan>(spans.Count);
        var end = 0;
        foreach (var s in spans)
        {
            if (s.Start < end)
                continue;
            kept.Add(s);
            end = s.Start + s.Length;
        }
        var sb = new StringBuilder(text.Length);
        var pos = 0;
        foreach (var s in kept)
        {
            sb.Append(text, pos, s.Start - pos).Append(s.Replacement);
            pos = s.Start + s.Length;
        }
        sb.Append(text, pos, text.Length - pos);
        return new ScrubResult(sb.ToString(), kept);
    }

    private static void AddMatches(List<ScrubbedSpan> spans, Regex regex, string text, PhiKind kind, Func<Match, string> replacement, string? group = null)
    {
        foreach (Match m in regex.Matches(text))
        {
            var g = group is null ? m.Groups[0] : m.Groups[group];
            if (g.Success && g.Length > 0 && !Overlaps(spans, g.Index, g.Length))
                spans.Add(new ScrubbedSpan(g.Index, g.Length, kind, replacement(m)));
        }
    }

    private static bool Overlaps(List<ScrubbedSpan> spans, int start, int length)
    {
        foreach (var s in spans)
        {
            if (start < s.Start + s.Length && s.Start < start + length)
                return true;
        }
        return false;
    }

    private static void AddKnownIdentifiers(List<ScrubbedSpan> spans, string text, IReadOnlyList<string> identifiers)
    {
        foreach (var id in identifiers.Where(i => i.Trim().Length >= 3).Select(i => i.Trim()).Distinct().OrderByDescending(i => i.Length))
        {
            var pattern = id.All(char.IsAsciiLetter)
                ? @"\b" + Regex.Escape(id) + @"\b"
                : @"(?<![A-Za-z0-9])" + Regex.Escape(id) + @"(?![A-Za-z0-9])";
            AddMatches(spans, new Regex(pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant), text, PhiKind.Identifier, _ => "[ID]");
        }
    }

    private static void AddKnownNames(List<ScrubbedSpan> spans, string text, IReadOnlyList<PersonName> names)
    {
        var tokens = names.SelectMany(n => n.SearchTokens()).Distinct(StringComparer.OrdinalIgnoreCase).OrderByDescending(t => t.Length);
        foreach (var t in tokens)
        {
            var regex = new Regex(@"(?<![\p{L}\p{N}])" + Regex.Escape(t) + @"(?![\p{L}\p{N}])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
            AddMatches(spans, regex, text, PhiKind.Name, _ => "[NAME]");
        }
    }

    private static void AddTitledNames(List<ScrubbedSpan> spans, string text)
    {
        foreach (var regex in new[] { TitledNameRegex(), RoleNameRegex(), DicomPersonNameRegex(), CommaNameRegex() })
        {
            foreach (Match m in regex.Matches(text))
            {
                var g = m.Groups["name"];
                // A role phrase followed by ordinary words ("discussed with the Emergency Department") is not a name.
                var words = Words().Matches(g.Value).Select(w => w.Value).ToList();
                if (words.Count == 0 || words.All(w => NotNames.Contains(w)))
                    continue;
                if (regex == CommaNameRegex() && !words.Any(w => NameList.Value.Contains(w)))
                    continue;
                foreach (Match w in Words().Matches(g.Value))
                {
                    if (NotNames.Contains(w.Value) || w.Length < 2 && regex != DicomPersonNameRegex())
                        continue;
                    var start = g.Index + w.Index;
                    if (!Overlaps(spans, start, w.Length))
                        spans.Add(new ScrubbedSpan(start, w.Length, PhiKind.Name, "[NAME]"));
                }
            }
        }
    }

    private static void AddListedNames(List<ScrubbedSpan> spans, string text)
    {
        foreach (Match w in CapitalisedWord().Matches(text))
        {
            if (NameList.Value.Contains(w.Value) && !Overlaps(spans, w.Index, w.Length))
                spans.Add(new ScrubbedSpan(w.Index, w.Length, PhiKind.Name, "[NAME]"));
        }
    }

    private static void AddAges(List<ScrubbedSpan> spans, string text)
    {
        foreach (var regex in new[] { AgeBeforeUnitRegex(), AgeAfterWordRegex() })
        {
            foreach (Match m in regex.Matches(text))
            {
                var g = m.Groups["age"];
                if (int.Parse(g.Value, CultureInfo.InvariantCulture) > 89 && !Overlaps(spans, g.Index, g.Length))
                    spans.Add(new ScrubbedSpan(g.Index, g.Length, PhiKind.Age, "90+"));
            }
        }
    }

    private static void AddDates(List<ScrubbedSpan> spans, string text, int? shift)
    {
        foreach (var (regex, format) in DateFormats)
        {
            foreach (Match m in regex.Matches(text))
            {
                if (Overlaps(spans, m.Index, m.Length))
                    continue;
                spans.Add(new ScrubbedSpan(m.Index, m.Length, PhiKind.Date, ShiftDate(m, format, shift)));
            }
        }
    }

    private enum DateFormat { Iso, Us, UsShortYear, Dotted, MonthDayYear, DayMonthYear, MonthYear, Compact }

    private static readonly (Regex, DateFormat)[] DateFormats =
    [
        (IsoDateRegex(), DateFormat.Iso),
        (CompactDateRegex(), DateFormat.Compact),
        (UsDateRegex(), DateFormat.Us),
        (UsShortDateRegex(), DateFormat.UsShortYear),
        (DottedDateRegex(), DateFormat.Dotted),
        (MonthDayYearRegex(), DateFormat.MonthDayYear),
        (DayMonthYearRegex(), DateFormat.DayMonthYear),
        (MonthYearRegex(), DateFormat.MonthYear),
    ];

    private static readonly string[] MonthNames = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames;

    private static string ShiftDate(Match m, DateFormat format, int? shift)
    {
        if (shift is not { } days)
            return "[DATE]";
        try
        {
            int y, mo, d;
            switch (format)
            {
                case DateFormat.Iso:
                case DateFormat.Compact:
                    (y, mo, d) = (Int(m, "y"), Int(m, "m"), Int(m, "d"));
                    break;
                case DateFormat.Us:
                case DateFormat.UsShortYear:
                    (y, mo, d) = (Int(m, "y"), Int(m, "m"), Int(m, "d"));
                    if (format == DateFormat.UsShortYear)
                        y += y < 50 ? 2000 : 1900;
                    break;
                case DateFormat.Dotted:
                    (y, mo, d) = (Int(m, "y"), Int(m, "m"), Int(m, "d"));
                    break;
                case DateFormat.MonthDayYear:
                case DateFormat.DayMonthYear:
                    (y, mo, d) = (Int(m, "y"), Month(m.Groups["mon"].Value), Int(m, "d"));
                    break;
                case DateFormat.MonthYear:
                    (y, mo, d) = (Int(m, "y"), Month(m.Groups["mon"].Value), 15);
                    break;
                default:
                    return "[DATE]";
            }
            var shifted = new DateOnly(y, mo, d).AddDays(days);
            var inv = CultureInfo.InvariantCulture;
            return format switch
            {
                DateFormat.Iso => shifted.ToString("yyyy-MM-dd", inv),
                DateFormat.Compact => shifted.ToString("yyyyMMdd", inv),
                DateFormat.Us => $"{shifted.Month}/{shifted.Day}/{shifted.Year}",
                DateFormat.UsShortYear => $"{shifted.Month}/{shifted.Day}/{shifted.Year % 100:00}",
                DateFormat.Dotted => shifted.ToString("dd.MM.yyyy", inv),
                DateFormat.MonthDayYear => $"{MonthNames[shifted.Month - 1]} {shifted.Day}, {shifted.Year}",
                DateFormat.DayMonthYear => $"{shifted.Day} {MonthNames[shifted.Month - 1]} {shifted.Year}",
                DateFormat.MonthYear => $"{MonthNames[shifted.Month - 1]} {shifted.Year}",
                _ => "[DATE]",
            };
        }
        catch (ArgumentOutOfRangeException)
        {
            // Not a real calendar date (31/02/2020): removed rather than shifted.
            return "[DATE]";
        }
    }

    private static int Int(Match m, string g) => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);

    private static int Month(string name)
    {
        for (var i = 0; i < 12; i++)
        {
            if (MonthNames[i].StartsWith(name[..3], StringComparison.OrdinalIgnoreCase))
                return i + 1;
        }
        throw new ArgumentOutOfRangeException(nameof(name), name, "not a month");
    }

    private static HashSet<string> LoadNameList()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("GenerateCT.Deid.Reports.names.txt")
            ?? throw new InvalidOperationException("embedded resource GenerateCT.Deid.Reports.names.txt is missing from the build");
        using var reader = new StreamReader(stream);
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (reader.ReadLine() is { } line)
        {
            var t = line.Trim();
            if (t.Length > 0 && t[0] != '#')
                set.Add(t);
        }
        return set;
    }

    private const string MonthPattern = @"(?<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?";

    [GeneratedRegex(@"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")]
    private static partial Regex EmailRegex();

    [GeneratedRegex(@"\b(?:https?://|www\.)[^\s<>""]+", RegexOptions.IgnoreCase)]
    private static partial Regex UrlRegex();

    [GeneratedRegex(@"\b(?:MRN|MR\s?#|Medical\s+Record(?:\s+(?:Number|No\.?))?|Patient\s+ID|Pt\.?\s+ID|Accession(?:\s+(?:Number|No\.?|#))?|Acc\.?\s?#|Order(?:\s+(?:Number|No\.?|#))|Visit(?:\s+(?:Number|No\.?|#))|Encounter(?:\s+(?:Number|No\.?|#))?|Account(?:\s+(?:Number|No\.?|#))?|FIN|CSN|Study\s+ID|Exam\s+(?:Number|No\.?|#)|ID)\s*(?:[:#=]|is|number)?\s*(?<value>[A-Za-z]{0,4}[\-]?\d[A-Za-z0-9\-]{2,})", RegexOptions.IgnoreCase)]
    private static partial Regex LabelledIdentifierRegex();

    [GeneratedRegex(@"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")]
    private static partial Regex SsnRegex();

    [GeneratedRegex(@"(?<![\d\w])(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?:\s*(?:ext\.?|x)\s*\d{1,5})?(?!\d)|\b(?:pager|beeper|pgr|ext\.?|extension|fax|tel\.?|phone)\s*[:#]?\s*(?<n>\d[\d\-]{3,})", RegexOptions.IgnoreCase)]
    private static partial Regex PhoneRegex();

    [GeneratedRegex(@"\b\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\.?\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq)\b\.?(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s*[A-Za-z0-9\-]+)?")]
    private static partial Regex StreetRegex();

    [GeneratedRegex(@"\b(?:[A-Z][a-z]+\s){0,2}[A-Z][a-z]+,\s*(?:[A-Z]{2}|[A-Z][a-z]+)\s+\d{5}(?:-\d{4})?\b|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")]
    private static partial Regex CityStateZipRegex();

    /// <summary>Named institutions ("Northgate General Hospital", "St. Aldric Medical Center"): they narrow down where, and so who.</summary>
    [GeneratedRegex(@"\b(?:(?:St|Saint|Mount|Mt)\.?\s+)?(?:[A-Z][a-z'\-]+\s+){1,3}(?:Medical\s+Center|Hospital|Clinic|Health\s+System|Infirmary|Medical\s+Centre)\b")]
    private static partial Regex InstitutionRegex();

    [GeneratedRegex(@"\bP\.?\s?O\.?\s+Box\s+\d+", RegexOptions.IgnoreCase)]
    private static partial Regex PoBoxRegex();

    /// <summary>Runs of six or more digits, alone or inside an alphanumeric token: record, order and device numbers, not measurements.</summary>
    [GeneratedRegex(@"(?<![\w.])[A-Za-z]{0,6}[\-]?\d{6,}[A-Za-z0-9\-]*(?![\w])|(?<![\w.])[A-Za-z]{1,4}\d{4,}[A-Za-z0-9]*(?![\w.])")]
    private static partial Regex LongNumberRegex();

    [GeneratedRegex(@"\b(?<age>\d{2,3})\s*(?:-|\s)?\s*(?:years?|yrs?|y/?o|y\.o\.|yo|year-old|years-old)\b", RegexOptions.IgnoreCase)]
    private static partial Regex AgeBeforeUnitRegex();

    [GeneratedRegex(@"\b(?:age|aged|age:|ages)\s*:?\s*(?<age>\d{2,3})\b", RegexOptions.IgnoreCase)]
    private static partial Regex AgeAfterWordRegex();

    [GeneratedRegex(@"\b(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Sr|Sister|Nurse)\.?\s+(?<name>(?:[A-Z][\p{L}'\-]+|[A-Z]\.)(?:\s+(?:[A-Z]\.|[A-Z][\p{L}'\-]+)){0,2})")]
    private static partial Regex TitledNameRegex();

    [GeneratedRegex(@"(?:signed\s+by|dictated\s+by|read\s+by|reviewed\s+by|reported\s+by|verified\s+by|transcribed\s+by|interpreted\s+by|approved\s+by|discussed\s+with|communicated\s+to|called\s+to|conveyed\s+to|d/w|attending|radiologist|resident|technologist|referring\s+physician|ordering\s+physician|ordering\s+provider|referred\s+by|cc)\s*:?\s*(?:Dr\.?\s+)?(?<name>[A-Z][\p{L}'\-]+(?:,?\s+(?:[A-Z]\.|[A-Z][\p{L}'\-]+)){0,2})", RegexOptions.IgnoreCase)]
    private static partial Regex RoleNameRegex();

    [GeneratedRegex(@"\b(?<name>[A-Z][A-Za-z'\-]*\^[A-Za-z'\-]*(?:\^[A-Za-z'\-.]*){0,3})")]
    private static partial Regex DicomPersonNameRegex();

    [GeneratedRegex(@"\b(?<name>[A-Z][a-z'\-]+,\s+[A-Z][a-z'\-]+(?:\s+[A-Z]\.)?)")]
    private static partial Regex CommaNameRegex();

    [GeneratedRegex(@"[\p{L}'\-]+")]
    private static partial Regex Words();

    [GeneratedRegex(@"(?<![\p{L}])[A-Z][a-z'\-]+(?![\p{L}])")]
    private static partial Regex CapitalisedWord();

    [GeneratedRegex(@"\b(?<y>(?:19|20)\d{2})-(?<m>0?[1-9]|1[0-2])-(?<d>0?[1-9]|[12]\d|3[01])\b")]
    private static partial Regex IsoDateRegex();

    [GeneratedRegex(@"(?<!\d)(?<y>(?:19|20)\d{2})(?<m>0[1-9]|1[0-2])(?<d>0[1-9]|[12]\d|3[01])(?!\d)")]
    private static partial Regex CompactDateRegex();

    [GeneratedRegex(@"(?<![\d/])(?<m>0?[1-9]|1[0-2])[/\-](?<d>0?[1-9]|[12]\d|3[01])[/\-](?<y>(?:19|20)\d{2})(?![\d/])")]
    private static partial Regex UsDateRegex();

    [GeneratedRegex(@"(?<![\d/])(?<m>0?[1-9]|1[0-2])/(?<d>0?[1-9]|[12]\d|3[01])/(?<y>\d{2})(?![\d/])")]
    private static partial Regex UsShortDateRegex();

    [GeneratedRegex(@"(?<!\d|\d\.)(?<d>0?[1-9]|[12]\d|3[01])\.(?<m>0?[1-9]|1[0-2])\.(?<y>(?:19|20)\d{2})(?!\d|\.\d)")]
    private static partial Regex DottedDateRegex();

    [GeneratedRegex(@"\b" + MonthPattern + @"\s+(?<d>0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+(?<y>(?:19|20)\d{2})\b", RegexOptions.IgnoreCase)]
    private static partial Regex MonthDayYearRegex();

    [GeneratedRegex(@"\b(?<d>0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?" + MonthPattern + @",?\s+(?<y>(?:19|20)\d{2})\b", RegexOptions.IgnoreCase)]
    private static partial Regex DayMonthYearRegex();

    [GeneratedRegex(@"\b" + MonthPattern + @",?\s+(?<y>(?:19|20)\d{2})\b")]
    private static partial Regex MonthYearRegex();
}
