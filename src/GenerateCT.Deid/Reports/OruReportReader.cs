using System.Globalization;
using System.Text;

namespace GenerateCT.Deid.Reports;

/// <summary>
/// Reads a radiology report out of an HL7 v2 ORU^R01 message (HL7 v2.5.1 §7.3.1): the text is the
/// OBX-5 values of textual observations in order; the identifying fields of PID, PV1, ORC and OBR
/// are collected so that the scrubber can remove them from the text.
/// </summary>
public static class OruReportReader
{
    private static readonly HashSet<string> TextValueTypes = ["TX", "FT", "ST", "CE", "CWE", ""];

    public static RadiologyReport Read(Hl7Message message)
    {
        if (message.MessageCode != "ORU" || message.TriggerEvent != "R01")
            throw new Hl7RejectException($"message type {message.MessageCode}^{message.TriggerEvent} is not accepted; send radiology reports as ORU^R01");

        var names = new List<PersonName>();
        var ids = new List<string>();
        var (patientId, birth, sex) = message.Segment("PID") is { } pid ? ReadPatient(pid, names, ids) : (null, null, null);
        if (message.Segment("PV1") is { } pv1)
            ReadVisit(pv1, names, ids);
        if (message.Segment("ORC") is { } orc)
            ReadCommonOrder(orc, names, ids);
        var (accession, observed) = ReadObservationRequests(message, names, ids);
        var text = ReadText(message, names);
        if (text.Length == 0)
            throw new Hl7RejectException("the ORU^R01 message has no textual OBX observation (OBX-2 TX, FT or ST)");

        return new RadiologyReport
        {
            Text = text.ToString().TrimEnd('\n'),
            AccessionNumber = accession,
            PatientId = patientId,
            Names = names,
            Identifiers = ids.Distinct(StringComparer.Ordinal).ToList(),
            BirthDate = birth,
            ObservationDate = observed ?? ParseDate(message.Get("MSH", 7)),
            Sex = sex,
            AgeYears = AgeInYears.At(birth, observed ?? ParseDate(message.Get("MSH", 7))),
        };
    }

    /// <summary>PID: identifiers, names, address and phones; returns the patient id (PID-3 first), birth date and sex.</summary>
    private static (string? PatientId, DateOnly? Birth, string? Sex) ReadPatient(Hl7Segment pid, List<PersonName> names, List<string> ids)
    {
        string? patientId = null;
        foreach (var field in new[] { 2, 3, 4, 18, 19, 20 })
        {
            for (var r = 1; r <= pid.Repetitions(field); r++)
            {
                var id = pid.Get(field, 1, r);
                if (id.Length > 0)
                {
                    ids.Add(id);
                    if (field == 3 && patientId is null)
                        patientId = id;
                }
            }
        }
        patientId ??= ids.FirstOrDefault();
        AddXpn(pid, 5, names);
        AddXpn(pid, 6, names); // mother's maiden name
        AddXpn(pid, 9, names); // alias
        var birth = ParseDate(pid.Get(7));
        var sex = pid.Get(8) switch { "M" => "M", "F" => "F", "O" or "A" => "O", _ => null };
        AddComponents(pid, 11, ids); // address
        AddComponents(pid, 13, ids); // home phone
        AddComponents(pid, 14, ids); // business phone
        return (patientId, birth, sex);
    }

    /// <summary>PV1: attending, referring, consulting, admitting and other physicians; visit and account numbers.</summary>
    private static void ReadVisit(Hl7Segment pv1, List<PersonName> names, List<string> ids)
    {
        foreach (var field in new[] { 7, 8, 9, 17, 52 })
            AddXcn(pv1, field, names);
        foreach (var field in new[] { 19, 50 })
            AddComponents(pv1, field, ids);
    }

    /// <summary>ORC: placer, filler and group numbers; entering, verifying and ordering persons.</summary>
    private static void ReadCommonOrder(Hl7Segment orc, List<PersonName> names, List<string> ids)
    {
        foreach (var field in new[] { 2, 3, 4 })
            AddComponents(orc, field, ids, firstOnly: true);
        foreach (var field in new[] { 10, 11, 12 })
            AddXcn(orc, field, names);
    }

    /// <summary>Every OBR: order numbers, ordering provider, copies-to and interpreters; returns the first accession number and observation date.</summary>
    private static (string? Accession, DateOnly? Observed) ReadObservationRequests(Hl7Message message, List<PersonName> names, List<string> ids)
    {
        string? accession = null;
        DateOnly? observed = null;
        foreach (var obr in message.Segments("OBR"))
        {
            foreach (var field in new[] { 2, 3, 18, 19, 20, 21 })
                AddComponents(obr, field, ids, firstOnly: true);
            // Radiology systems put the accession number in OBR-3 (filler order number) or OBR-18.
            accession ??= First(obr.Get(3), obr.Get(18), obr.Get(2));
            observed ??= ParseDate(obr.Get(7));
            AddXcn(obr, 16, names);
            AddXcn(obr, 28, names);
            foreach (var field in new[] { 32, 33, 34, 35 })
            {
                // NDL: component 1 is a CNN whose subcomponents are id & family & given & middle.
                for (var r = 1; r <= obr.Repetitions(field); r++)
                {
                    var family = obr.Get(field, 1, r, 2);
                    if (family.Length > 0)
                        names.Add(new PersonName(family, obr.Get(field, 1, r, 3), obr.Get(field, 1, r, 4)));
                    var id = obr.Get(field, 1, r, 1);
                    if (id.Length > 0) ids.Add(id);
                }
            }
        }
        return (accession, observed);
    }

    /// <summary>The report text: OBX-5 of every textual OBX in order, an impression heading added where the sender left it out; collects each responsible observer.</summary>
    private static StringBuilder ReadText(Hl7Message message, List<PersonName> names)
    {
        var text = new StringBuilder();
        foreach (var obx in message.Segments("OBX"))
        {
            if (!TextValueTypes.Contains(obx.Get(2)))
                continue;
            var isImpression = obx.Get(3, 1).EndsWith("IMP", StringComparison.OrdinalIgnoreCase)
                || obx.Get(3, 2).Contains("impression", StringComparison.OrdinalIgnoreCase);
            var lines = new List<string>();
            for (var r = 1; r <= obx.Repetitions(5); r++)
                lines.Add(obx.Get(5, 1, r));
            var value = string.Join('\n', lines);
            if (isImpression && !value.TrimStart().StartsWith("IMPRESSION", StringComparison.OrdinalIgnoreCase) && !text.ToString().Contains("IMPRESSION", StringComparison.OrdinalIgnoreCase))
                text.Append("IMPRESSION:\n");
            text.Append(value).Append('\n');
            AddXcn(obx, 16, names); // responsible observer
        }
        return text;
    }

    /// <summary>HL7 DT/DTM: YYYY[MM[DD[HHMM...]]]; only the date is used.</summary>
    internal static DateOnly? ParseDate(string value) =>
        value.Length >= 8 && DateOnly.TryParseExact(value[..8], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;

    private static string? First(params string[] values) => values.FirstOrDefault(v => v.Length > 0);

    private static void AddXpn(Hl7Segment s, int field, List<PersonName> names)
    {
        for (var r = 1; r <= s.Repetitions(field); r++)
        {
            var family = s.Get(field, 1, r);
            if (family.Length > 0 || s.Get(field, 2, r).Length > 0)
                names.Add(new PersonName(family, s.Get(field, 2, r), s.Get(field, 3, r), s.Get(field, 5, r), s.Get(field, 4, r)));
        }
    }

    private static void AddXcn(Hl7Segment s, int field, List<PersonName> names)
    {
        for (var r = 1; r <= s.Repetitions(field); r++)
        {
            var family = s.Get(field, 2, r);
            if (family.Length > 0 || s.Get(field, 3, r).Length > 0)
                names.Add(new PersonName(family, s.Get(field, 3, r), s.Get(field, 4, r), s.Get(field, 6, r), s.Get(field, 5, r)));
        }
    }

    private static void AddComponents(Hl7Segment s, int field, List<string> ids, bool firstOnly = false)
    {
        for (var r = 1; r <= s.Repetitions(field); r++)
        {
            for (var c = 1; c <= (firstOnly ? 1 : 9); c++)
            {
                var v = s.Get(field, c, r).Trim();
                if (v.Length >= 3)
                    ids.Add(v);
            }
        }
    }
}
