using GenerateCT.Deid.Profile;

namespace GenerateCT.Deid.Tests.Profile;

public sealed class ConfidentialityProfileTableTests
{
    [Fact]
    public void Generated_table_holds_every_row_of_Table_E1_1_and_names_its_source()
    {
        // 2024b Table E.1-1 has 621 rows; one of them is the private-attribute row.
        Assert.Equal(620, ConfidentialityProfileTable.Entries.Length);
        Assert.Contains("Table E.1-1", ConfidentialityProfileTable.Source);
        Assert.Equal(ConfidentialityProfileTable.Entries.Length, ConfidentialityProfileTable.Entries.Select(e => (e.Tag, e.Mask)).Distinct().Count());
    }

    [Fact]
    public void Every_action_code_of_the_standard_including_the_combined_ones_occurs()
    {
        var codes = ConfidentialityProfileTable.Entries.Select(e => e.Basic).ToHashSet();
        foreach (var code in new[] { ProfileAction.D, ProfileAction.Z, ProfileAction.X, ProfileAction.U, ProfileAction.ZD, ProfileAction.XZ, ProfileAction.XD, ProfileAction.XZD, ProfileAction.XZU })
            Assert.Contains(code, codes);
        var optionCodes = ConfidentialityProfileTable.Entries.SelectMany(e => e.Options).Select(o => o.Action).ToHashSet();
        Assert.Contains(ProfileAction.K, optionCodes);
        Assert.Contains(ProfileAction.C, optionCodes);
    }

    [Theory]
    [InlineData(0x00080050u, ProfileAction.Z)]   // Accession Number
    [InlineData(0x00100010u, ProfileAction.Z)]   // Patient's Name
    [InlineData(0x00100020u, ProfileAction.ZD)]  // Patient ID
    [InlineData(0x0020000Du, ProfileAction.U)]   // Study Instance UID
    [InlineData(0x00080080u, ProfileAction.XZD)] // Institution Name
    [InlineData(0x00081140u, ProfileAction.XZU)] // Referenced Image Sequence
    [InlineData(0x00081030u, ProfileAction.X)]   // Study Description
    public void Basic_profile_codes_match_the_standard(uint tag, ProfileAction expected) =>
        Assert.Equal(expected, ConfidentialityProfileTable.Find(tag)!.Basic);

    [Fact]
    public void Options_replace_the_basic_code_where_their_column_has_one()
    {
        var sex = ConfidentialityProfileTable.Find(0x00100040u)!;
        Assert.Equal(ProfileAction.Z, sex.ActionFor(new HashSet<ProfileOption>()));
        Assert.Equal(ProfileAction.K, sex.ActionFor(new HashSet<ProfileOption> { ProfileOption.RetainPatientCharacteristics }));
        var studyDate = ConfidentialityProfileTable.Find(0x00080020u)!;
        Assert.Equal(ProfileAction.C, studyDate.ActionFor(new HashSet<ProfileOption> { ProfileOption.RetainLongitudinalModifiedDates }));
        var description = ConfidentialityProfileTable.Find(0x00081030u)!;
        Assert.Equal(ProfileAction.C, description.ActionFor(new HashSet<ProfileOption> { ProfileOption.CleanDescriptors }));
        var station = ConfidentialityProfileTable.Find(0x00081010u)!;
        Assert.Equal(ProfileAction.XZD, station.ActionFor(new HashSet<ProfileOption> { ProfileOption.CleanDescriptors }));
    }

    [Fact]
    public void Repeating_groups_and_private_attributes_are_matched()
    {
        Assert.Equal("CurveData", ConfidentialityProfileTable.Find(0x50020010u)!.Keyword);
        Assert.Equal("OverlayComments", ConfidentialityProfileTable.Find(0x60024000u)!.Keyword);
        Assert.Same(ConfidentialityProfileTable.PrivateAttributes, ConfidentialityProfileTable.Find(0x00291010u));
        Assert.Equal(ProfileAction.X, ConfidentialityProfileTable.PrivateAttributes.Basic);
        Assert.Null(ConfidentialityProfileTable.Find(0x7FE00010u)); // Pixel Data is not in the table: kept
    }
}
