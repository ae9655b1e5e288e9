namespace GenerateCT.Dicom.Tests;

public sealed class ExceptionTests
{
    [Fact]
    public void Every_exception_of_the_library_derives_from_DicomException()
    {
        var exceptions = typeof(DicomException).Assembly.GetTypes()
            .Where(t => typeof(Exception).IsAssignableFrom(t) && t != typeof(DicomException))
            .ToList();

        Assert.Contains(typeof(DicomParseException), exceptions);
        Assert.Contains(typeof(Network.DicomNetworkException), exceptions);
        Assert.All(exceptions, t => Assert.True(t.IsSubclassOf(typeof(DicomException)), $"{t.FullName} does not derive from DicomException"));
    }
}
