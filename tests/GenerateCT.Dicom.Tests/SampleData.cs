using GenerateCT.Dicom.Imaging;
using GenerateCT.Imaging;

namespace GenerateCT.Dicom.Tests;

/// <summary>Small real inputs for the tests: a CT series from our writer and a data set using every VR.</summary>
internal static class SampleData
{
    /// <summary>A small HU volume: a water cylinder (0 HU) in air (-1000 HU) with a bone rod (+700), oblique-free axial geometry.</summary>
    public static Volume Phantom(int depth = 4, int size = 32, double sliceSpacing = 2.5)
    {
        var v = new Volume(depth, size, size)
        {
            Spacing = (sliceSpacing, 0.75, 0.7),
            Origin = (-12.0, -11.0, -40.0),
        };
        double c = (size - 1) / 2.0;
        for (int z = 0; z < depth; z++)
        {
            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++)
                {
                    double r = Math.Sqrt((x - c) * (x - c) + (y - c) * (y - c));
                    v[z, y, x] = r < size / 8.0 ? 700 + z : r < size * 0.4 ? (float)(x - y) : -1000;
                }
            }
        }

        return v;
    }

    public static IReadOnlyList<DicomDataset> CtSeries(int depth = 4, int size = 32, bool synthetic = false) =>
        CtSeriesWriter.CreateInstances(Phantom(depth, size), new CtSeriesOptions
        {
            PatientName = "Doe^Jane",
            PatientId = "P-0001",
            PatientAge = "064Y",
            PatientSex = "F",
            AccessionNumber = "ACC42",
            StudyDescription = "CT CHEST",
            Synthetic = synthetic,
        });

    /// <summary>A data set with an element of every VR, a nested sequence and non-ASCII text.</summary>
    public static DicomDataset EveryVR()
    {
        var ds = new DicomDataset();
        ds.SetString(DicomTag.SpecificCharacterSet, "ISO_IR 192");
        ds.SetUid(DicomTag.SOPClassUID, DicomUid.SecondaryCaptureImageStorage);
        ds.SetUid(DicomTag.SOPInstanceUID, DicomUid.Generate());
        ds.SetString(DicomTag.StudyDate, "20240131");                   // DA
        ds.SetString(DicomTag.StudyTime, "101112.5");                   // TM
        ds.SetString(DicomTag.AcquisitionDateTime, "20240131101112");   // DT
        ds.SetString(DicomTag.Modality, "OT");                           // CS
        ds.SetString(DicomTag.RetrieveAETitle, "PACS1");                 // AE
        ds.SetString(DicomTag.PatientAge, "064Y");                       // AS
        ds.SetString(DicomTag.PatientName, "Müller^José=张^三");           // PN, UTF-8
        ds.SetString(DicomTag.PatientID, "ID 1");                        // LO
        ds.SetString(DicomTag.StationName, "CT-7");                      // SH
        ds.SetString(DicomTag.PatientComments, "line one\r\nline two");   // LT
        ds.SetString(DicomTag.AdditionalPatientHistory, "smoker \\ 20 py"); // LT with backslash
        ds.SetString(DicomTag.DerivationDescription, "résumé");          // ST
        ds.SetString(DicomTag.TextValue, "a long unlimited text");       // UT
        ds.SetString(DicomTag.StrainAdditionalInformation, "UC text value"); // UC
        ds.SetString(DicomTag.RetrieveURI, "https://pacs.example/wado");  // UR
        ds.SetDouble(DicomTag.SliceThickness, 1.25);                     // DS
        ds.SetInt(DicomTag.SeriesNumber, 3);                             // IS
        ds.SetDouble(DicomTag.ImagePositionPatient, -1.5, 2.25, -300.125);
        ds.SetInt(DicomTag.Rows, 4);                                     // US
        ds.SetInt(DicomTag.ReferencePixelX0, -7);                        // SL
        ds.SetInt(DicomTag.TagAngleSecondAxis, -3);                      // SS
        ds.SetInt(DicomTag.SimpleFrameList, 1, 2, 70000);                // UL
        ds.SetDouble(DicomTag.RecommendedDisplayFrameRateInFloat, 12.5); // FL
        ds.SetDouble(DicomTag.EventTimeOffset, 1e-3);                    // FD
        ds.SetInt(DicomTag.SelectorSVValue, -5_000_000_000);             // SV
        ds.SetInt(DicomTag.SelectorUVValue, 5_000_000_000);              // UV
        ds.SetBytes(DicomTag.FrameIncrementPointer, DicomVR.AT, new byte[] { 0x18, 0x00, 0x63, 0x10 }); // AT
        ds.SetBytes(DicomTag.SelectorOBValue, DicomVR.OB, new byte[] { 1, 2, 3 }); // OB, odd → padded
        ds.SetBytes(DicomTag.FloatPixelData, DicomVR.OF, BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2f)).ToArray());
        ds.SetBytes(DicomTag.DoubleFloatPixelData, DicomVR.OD, BitConverter.GetBytes(Math.PI));
        ds.SetBytes(DicomTag.LongEdgePointIndexList, DicomVR.OL, BitConverter.GetBytes(123456u));
        ds.SetBytes(DicomTag.SelectorOVValue, DicomVR.OV, BitConverter.GetBytes(9_000_000_000UL));
        ds.SetBytes(new DicomTag(0x0029, 0x0010), DicomVR.LO, "ACME 1.0"u8.ToArray());
        ds.SetBytes(new DicomTag(0x0029, 0x1001), DicomVR.UN, new byte[] { 9, 8, 7, 6 });
        var inner = new DicomDataset();
        inner.SetString(DicomTag.CodeValue, "T-D3000");
        inner.SetString(DicomTag.CodeMeaning, "Thorax");
        var deeper = new DicomDataset();
        deeper.SetString(DicomTag.CodeMeaning, "Ökologie");
        inner.SetSequence(DicomTag.ConceptNameCodeSequence, deeper);
        ds.SetSequence(DicomTag.AnatomicRegionSequence, inner, new DicomDataset());
        ds.SetSequence(DicomTag.ReferencedImageSequence);
        ds.SetBytes(DicomTag.PixelData, DicomVR.OW, Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        return ds;
    }
}
