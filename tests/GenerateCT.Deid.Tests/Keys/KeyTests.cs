using GenerateCT.Testing;
using GenerateCT.Deid.Keys;
using GenerateCT.Dicom;
using GenerateCT.Testing.Dicom;

namespace GenerateCT.Deid.Tests.Keys;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KeyTests
{
    private static KeyedPseudonyms Site(byte fill) => new(SiteSecret.FromBytes(Enumerable.Repeat(fill, 32).ToArray()));

    [Fact]
    public void Keyed_uid_is_stable_across_runs_and_differs_across_sites()
    {
        const string original = "1.2.840.113619.2.55.3.604688119.971.1596471853.1";
        var a1 = Site(1).Uid(original);
        var a2 = Site(1).Uid(original);
        var b = Site(2).Uid(original);
        Assert.Equal(a1, a2);
        Assert.NotEqual(a1, b);
        Assert.NotEqual(a1, Site(1).Uid(original + "0"));
        foreach (var uid in new[] { a1, b })
        {
            Assert.StartsWith("2.25.", uid);
            Assert.True(uid.Length <= 64);
            Assert.True(DicomUid.IsValid(uid), uid);
        }
    }

    [Fact]
    public void Date_shift_is_per_patient_backwards_and_within_ten_years()
    {
        var keys = Site(3);
        var shifts = Enumerable.Range(0, 200).Select(i => keys.DateShiftDays("PAT" + i)).ToList();
        Assert.All(shifts, s => Assert.InRange(s, -KeyedPseudonyms.MaxDateShiftDays, -1));
        Assert.True(shifts.Distinct().Count() > 150, "shifts should spread over the range");
        Assert.Equal(keys.DateShiftDays("PAT7"), keys.DateShiftDays("PAT7"));
    }

    [Fact]
    public void Accession_pseudonym_fits_SH_and_patient_pseudonym_fits_LO()
    {
        var keys = Site(4);
        Assert.Equal(16, keys.AccessionNumber("ACC123").Length);
        Assert.True(keys.PatientId("12345678").Length <= 64);
        Assert.NotEqual(keys.AccessionNumber("ACC123"), keys.AccessionNumber("ACC124"));
    }

    [Fact]
    public async Task Site_secret_is_created_once_with_mode_0600_and_never_printed()
    {
        using var dir = new Scratch("gct-deid");
        var path = dir.Combine("keys", "site.secret");
        var first = await SiteSecret.LoadOrCreateAsync(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(32, new FileInfo(path).Length);
        var second = await SiteSecret.LoadOrCreateAsync(path);
        Assert.Equal(new KeyedPseudonyms(first).Uid("1.2.3"), new KeyedPseudonyms(second).Uid("1.2.3"));
        Assert.Equal("SiteSecret(redacted)", first.ToString());
        Assert.DoesNotContain(Convert.ToHexString(await File.ReadAllBytesAsync(path)), $"{first}");
    }

    [Fact]
    public async Task Site_secret_readable_by_others_is_refused_with_the_fix()
    {
        using var dir = new Scratch("gct-deid");
        var path = dir.Combine("site.secret");
        await SiteSecret.LoadOrCreateAsync(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var e = await Assert.ThrowsAsync<SiteSecretException>(() => SiteSecret.LoadOrCreateAsync(path));
        Assert.Contains("chmod 600", e.Message);
    }

    [Fact]
    public async Task Pseudonym_table_is_encrypted_at_rest_and_opens_only_with_its_site_secret()
    {
        using var dir = new Scratch("gct-deid");
        var path = dir.Combine("pseudonyms.bin");
        var secret = SiteSecret.FromBytes(Enumerable.Repeat((byte)9, 32).ToArray());
        var table = await PseudonymTable.OpenAsync(path, secret);
        table.Record("patient", "GCT0123456789ABCDEF", "MRN-00482913");
        await table.SaveAsync();

        var bytes = await File.ReadAllBytesAsync(path);
        Assert.Equal(-1, IndexOf(bytes, "MRN-00482913"u8.ToArray()));
        Assert.Equal(-1, IndexOf(bytes, "GCT0123456789ABCDEF"u8.ToArray()));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        var reopened = await PseudonymTable.OpenAsync(path, secret);
        Assert.Equal("MRN-00482913", reopened.Reidentify("patient", "GCT0123456789ABCDEF"));
        await Assert.ThrowsAsync<PseudonymTableException>(() => PseudonymTable.OpenAsync(path, SiteSecret.FromBytes(new byte[32])));
    }

    internal static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
