using GenerateCT.Imaging.Nifti;

namespace GenerateCT.Imaging.Tests;

public sealed class ExceptionTests
{
    [Fact]
    public void Every_exception_of_the_library_derives_from_ImagingException()
    {
        var exceptions = typeof(ImagingException).Assembly.GetTypes()
            .Where(t => typeof(Exception).IsAssignableFrom(t) && t != typeof(ImagingException))
            .ToList();

        Assert.Contains(typeof(NiftiFormatException), exceptions);
        Assert.All(exceptions, t => Assert.True(t.IsSubclassOf(typeof(ImagingException)), $"{t.FullName} does not derive from ImagingException"));
    }
}
