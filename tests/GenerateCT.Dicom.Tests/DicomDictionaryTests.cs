namespace GenerateCT.Dicom.Tests;

public class DicomDictionaryTests
{
    [Fact]
    public void Standard_attributes_have_their_PS3_6_VR_and_keyword()
    {
        Assert.True(DicomDictionary.Count > 4000);
        var pn = DicomDictionary.Lookup(new DicomTag(0x0010, 0x0010));
        Assert.NotNull(pn);
        Assert.Equal(DicomVR.PN, pn.VR);
        Assert.Equal("PatientName", pn.Keyword);
        Assert.Equal(DicomVR.SQ, DicomDictionary.Lookup(DicomTag.ReferencedImageSequence)!.VR);
        Assert.Equal(new DicomTag(0x0020, 0x0037), DicomDictionary.Lookup("ImageOrientationPatient")!.Tag);
        Assert.Equal("3", DicomDictionary.Lookup(DicomTag.ImagePositionPatient)!.VM);
    }

    [Fact]
    public void Repeating_groups_private_creators_and_unknown_tags_resolve()
    {
        Assert.Equal("OverlayData", DicomDictionary.Lookup(new DicomTag(0x6002, 0x3000))!.Keyword);
        Assert.Null(DicomDictionary.Lookup(new DicomTag(0x6001, 0x3000))?.Keyword is "OverlayData" ? "odd" : null);
        Assert.Equal(DicomVR.LO, DicomDictionary.Lookup(new DicomTag(0x0029, 0x0010))!.VR);
        Assert.Equal(DicomVR.UN, DicomDictionary.ImplicitVR(new DicomTag(0x0029, 0x1010)));
        Assert.Equal(DicomVR.OW, DicomDictionary.ImplicitVR(DicomTag.PixelData));
    }

    [Fact]
    public void Tags_parse_from_numbers_and_keywords()
    {
        Assert.Equal(DicomTag.PatientID, DicomTag.Parse("(0010,0020)"));
        Assert.Equal(DicomTag.PatientID, DicomTag.Parse("00100020"));
        Assert.Equal(DicomTag.PatientID, DicomTag.Parse("PatientID"));
        Assert.Throws<FormatException>(() => DicomTag.Parse("NoSuchKeyword"));
        Assert.Equal("(7FE0,0010)", DicomTag.PixelData.ToString());
        Assert.True(new DicomTag(0x0029, 0x1001).IsPrivate);
    }
}
