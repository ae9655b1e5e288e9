using GenerateCT.Deid.Datasets;
using GenerateCT.Deid.Reports;

namespace GenerateCT.Deid.Tests;

public sealed class ExceptionTests
{
    [Fact]
    public void Every_exception_of_the_library_derives_from_DeidException()
    {
        var exceptions = typeof(DeidException).Assembly.GetTypes()
            .Where(t => typeof(Exception).IsAssignableFrom(t) && t != typeof(DeidException))
            .ToList();

        Assert.Contains(typeof(DeidentificationRefusedException), exceptions);
        Assert.Contains(typeof(Hl7RejectException), exceptions);
        Assert.All(exceptions, t => Assert.True(t.IsSubclassOf(typeof(DeidException)), $"{t.FullName} does not derive from DeidException"));
    }
}
