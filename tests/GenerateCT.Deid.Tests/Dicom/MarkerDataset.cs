using System.Globalization;
using System.Text;
using GenerateCT.Deid.Profile;
using GenerateCT.Dicom;

namespace GenerateCT.Deid.Tests.Dicom;

/// <summary>One attribute of Table E.1-1 populated with a value found nowhere else in the file.</summary>
/// <param name="Text">The marker as it appears in the file's bytes; null for 2-byte binary values, checked by reading back instead.</param>
internal sealed record Marker(DicomTag Tag, DicomVR Vr, string? Text, ProfileEntry Row);

/// <summary>
/// A CT instance carrying every attribute of PS3.15 Table E.1-1 (repeating groups as (5000,3000),
/// (6000,3000), (6000,4000); private attributes as a block in group 0009), each with a unique marker:
/// text "MK" and seven digits (shaped like the identifiers a cleaner must remove), UIDs 1.2.3.999.n,
/// dates in 1900–1901, times with a unique fraction, sequences with one item whose Referenced SOP
/// Instance UID is a marker. Command-group (0000) and File Meta (0002) rows are left out: those
/// attributes never occur in a stored data set (the writer rebuilds the meta from the data set).
/// </summary>
internal static class MarkerDataset
{
    public static readonly DateOnly FirstMarkerDate = new(1900, 1, 1);

    public static (DicomDataset Dataset, IReadOnlyList<Marker> Markers) Build()
    {
        var ds = new DicomDataset();
        var markers = new List<Marker>();
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
            var tag = new DicomTag(tagValue);
            var vr = Enum.Parse<DicomVR>(row.Vr);
            markers.Add(Populate(ds, tag, vr, i, row));
        }

        // A private block: creator and one element, both markers.
        ds.SetString(new DicomTag(0x0009, 0x0010), "MK9000001", DicomVR.LO);
        ds.SetString(new DicomTag(0x0009, 0x1001), "MK9000002", DicomVR.LO);
        markers.Add(new Marker(new DicomTag(0x0009, 0x0010), DicomVR.LO, "MK9000001", ConfidentialityProfileTable.PrivateAttributes));
        markers.Add(new Marker(new DicomTag(0x0009, 0x1001), DicomVR.LO, "MK9000002", ConfidentialityProfileTable.PrivateAttributes));

        // Enough of the Image Pixel module for a reader to treat it as an image: 4×4 zeros.
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

    public static string TextMarker(int i) => "MK" + i.ToString("D7", CultureInfo.InvariantCulture);

    public static string UidMarker(int i) => "1.2.3.999." + (1000000 + i).ToString(CultureInfo.InvariantCulture);

    private static Marker Populate(DicomDataset ds, DicomTag tag, DicomVR vr, int i, ProfileEntry row)
    {
        var inv = CultureInfo.InvariantCulture;
        string? text;
        switch (vr)
        {
            case DicomVR.SQ:
                var item = new DicomDataset();
                item.SetUid(DicomTag.ReferencedSOPClassUID, DicomUid.CTImageStorage);
                text = UidMarker(i);
                item.SetUid(DicomTag.ReferencedSOPInstanceUID, text);
                ds.SetSequence(tag, item);
                return new Marker(tag, vr, text, row);
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
                return new Marker(tag, vr, null, row);
            case DicomVR.OB or DicomVR.OW or DicomVR.UN:
                text = TextMarker(i) + "X";
                ds.Add(new DicomElement(tag, vr, Encoding.ASCII.GetBytes(text)));
                return new Marker(tag, vr, text, row);
            default: text = TextMarker(i); break;
        }
        ds.SetString(tag, text, vr);
        return new Marker(tag, vr, text, row);
    }
}
