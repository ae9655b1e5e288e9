using System.Globalization;
using System.Text;
using GenerateCT.Deid.Profile;
using GenerateCT.Dicom;

namespace GenerateCT.Deid.Datasets;

/// <summary>One attribute of Table E.1-1 populated with a value found nowhere else in the file.</summary>
/// <param name="Text">The marker as it appears in the file's bytes; null for 2-byte binary values (check those by reading back).</param>
public sealed record ProfileMarker(DicomTag Tag, DicomVR Vr, string? Text, string Keyword, ProfileAction Basic)
{
    internal ProfileEntry Row { get; init; } = null!;

    /// <summary>The row's action under <paramref name="profile"/>'s options.</summary>
    public ProfileAction ActionUnder(DeidentificationProfile profile) => Row.ActionFor(profile.EnabledOptions());

    /// <summary>
    /// Whether the profile keeps this marker verbatim: K rows, and C rows whose value has nothing to
    /// clean (times are not moved by a whole-day shift; coded and numeric values carry no free text).
    /// </summary>
    public bool KeptBy(DeidentificationProfile profile)
    {
        var action = ActionUnder(profile);
        return action == ProfileAction.K && Vr != DicomVR.SQ
            || action == ProfileAction.C && Vr is DicomVR.TM or DicomVR.CS or DicomVR.AS or DicomVR.DS or DicomVR.IS or DicomVR.US;
    }
}

/// <summary>
/// A CT instance carrying every attribute of PS3.15 Table E.1-1 — repeating groups as (5000,3000),
/// (6000,3000), (6000,4000), private attributes as a block in group 0009 — each with a unique marker:
/// text "MK" and seven digits (shaped like the identifiers a cleaner must remove), UIDs 1.2.3.999.n,
/// dates in 1900–1901, times with a unique fraction, sequences with one item whose Referenced SOP
/// Instance UID is a marker. Command-group (0000) and File Meta (0002) rows are left out: those
/// attributes never occur in a stored data set. Used by the proof tests, by the end-to-end test that
/// pushes it through the DICOM listener, and by a node's self-check of its configured profile.
/// </summary>
public static class ProfileMarkers
{
    public static readonly DateOnly FirstMarkerDate = new(1900, 1, 1);

    /// <summary>The instance (Modality CT, CT Image Storage, 4×4 pixels) and its markers.</summary>
    public static (DicomDataset Dataset, IReadOnlyList<ProfileMarker> Markers) Build()
    {
        var ds = new DicomDataset();
        var markers = new List<ProfileMarker>();
        ds.SetString(DicomTag.SpecificCharacterSet, "ISO_IR 100");
        ds.SetUid(DicomTag.SOPClassUID, DicomUid.CTImageStorage);
        ds.SetString(DicomTag.Modality, "CT");
        var i = 0;
        foreach (var row in ConfidentialityProfileTable.Entries)
        {
            i++;
            var group = row.Tag >> 16;
            if (group is 0x0000 or 0x0002)
                continue;
            var tagValue = row.Mask == 0xFFFFFFFFu ? row.Tag : row.Tag | (row.Keyword == "CurveData" ? 0x3000u : 0u);
            markers.Add(Populate(ds, new DicomTag(tagValue), Enum.Parse<DicomVR>(row.Vr), i, row));
        }

        var priv = ConfidentialityProfileTable.PrivateAttributes;
        ds.SetString(new DicomTag(0x0009, 0x0010), "MK9000001", DicomVR.LO);
        ds.SetString(new DicomTag(0x0009, 0x1001), "MK9000002", DicomVR.LO);
        markers.Add(new ProfileMarker(new DicomTag(0x0009, 0x0010), DicomVR.LO, "MK9000001", "PrivateCreator", priv.Basic) { Row = priv });
        markers.Add(new ProfileMarker(new DicomTag(0x0009, 0x1001), DicomVR.LO, "MK9000002", "PrivateAttribute", priv.Basic) { Row = priv });

        ds.SetInt(DicomTag.SamplesPerPixel, 1);
        ds.SetString(DicomTag.PhotometricInterpretation, "MONOCHROME2");
        ds.SetInt(DicomTag.Rows, 4);
        ds.SetInt(DicomTag.Columns, 4);
        ds.SetInt(DicomTag.BitsAllocated, 16);
        ds.SetInt(DicomTag.BitsStored, 16);
        ds.SetInt(DicomTag.HighBit, 15);
        ds.SetInt(DicomTag.PixelRepresentation, 1);
        ds.SetBytes(DicomTag.PixelData, DicomVR.OW, new byte[32]);
        return (ds, markers);
    }

    /// <summary>
    /// A marker-shaped Patient ID whose keyed date shift moves dates by more than 800 days: the date
    /// markers span 1900–1901, so a shorter shift could turn one marker date into another and a byte
    /// scan would report a leak that is not one.
    /// </summary>
    public static string PatientIdWithLongShift(GenerateCT.Deid.Keys.KeyedPseudonyms keys)
    {
        for (var n = 0; ; n++)
        {
            var id = TextMarker(9100000 + n);
            if (keys.DateShiftDays(id) < -800)
                return id;
        }
    }

    public static string TextMarker(int i) => "MK" + i.ToString("D7", CultureInfo.InvariantCulture);

    public static string UidMarker(int i) => "1.2.3.999." + (1000000 + i).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Scans every byte of a written file for every text marker: the ones found that
    /// <paramref name="profile"/> does not keep (leaks), and the ones it keeps that are missing.
    /// </summary>
    public static (IReadOnlyList<ProfileMarker> Leaked, IReadOnlyList<ProfileMarker> MissingKept) Scan(ReadOnlySpan<byte> file, IReadOnlyList<ProfileMarker> markers, DeidentificationProfile profile)
    {
        var leaked = new List<ProfileMarker>();
        var missing = new List<ProfileMarker>();
        foreach (var m in markers)
        {
            if (m.Text is null)
                continue;
            var found = file.IndexOf(Encoding.ASCII.GetBytes(m.Text)) >= 0;
            if (m.KeptBy(profile) && !found) missing.Add(m);
            else if (!m.KeptBy(profile) && found) leaked.Add(m);
        }
        return (leaked, missing);
    }

    private static ProfileMarker Populate(DicomDataset ds, DicomTag tag, DicomVR vr, int i, ProfileEntry row)
    {
        var inv = CultureInfo.InvariantCulture;
        ProfileMarker Marker(string? t) => new(tag, vr, t, row.Keyword, row.Basic) { Row = row };
        string text;
        switch (vr)
        {
            case DicomVR.SQ:
                var item = new DicomDataset();
                item.SetUid(DicomTag.ReferencedSOPClassUID, DicomUid.CTImageStorage);
                item.SetUid(DicomTag.ReferencedSOPInstanceUID, UidMarker(i));
                ds.SetSequence(tag, item);
                return Marker(UidMarker(i));
            case DicomVR.UI: text = UidMarker(i); break;
            case DicomVR.DA: text = FirstMarkerDate.AddDays(i).ToString("yyyyMMdd", inv); break;
            case DicomVR.DT: text = FirstMarkerDate.AddDays(i).ToString("yyyyMMdd", inv) + "111111." + (800000 + i).ToString(inv); break;
            case DicomVR.TM: text = "1010" + (i % 60).ToString("D2", inv) + "." + (700000 + i).ToString(inv); break;
            case DicomVR.AS: text = (100 + i % 800).ToString("D3", inv) + "D"; break;
            case DicomVR.DS: text = (900000 + i).ToString(inv) + ".5"; break;
            case DicomVR.IS: text = (8000000 + i).ToString(inv); break;
            case DicomVR.UR: text = $"http://{TextMarker(i).ToLowerInvariant()}.example"; break;
            case DicomVR.PN: text = TextMarker(i) + "^PN"; break;
            case DicomVR.US or DicomVR.SS:
                ds.Add(new DicomElement(tag, vr, BitConverter.GetBytes((ushort)(1000 + i))));
                return Marker(null);
            case DicomVR.OB or DicomVR.OW or DicomVR.UN:
                text = TextMarker(i) + "X";
                ds.Add(new DicomElement(tag, vr, Encoding.ASCII.GetBytes(text)));
                return Marker(text);
            default: text = TextMarker(i); break;
        }
        ds.SetString(tag, text, vr);
        return Marker(text);
    }
}
