using GenerateCT.Model.Tests.Fixtures;

namespace GenerateCT.Model.Tests;

public class ReferenceFixtureTests
{
    [Fact]
    public void Ctvit_fixture_unpickles_with_its_zero_element_tensors()
    {
        using var f = ReferenceFixture.Load("ctvit_tiny");
        Assert.Equal(new long[] { 2, 1, 5, 32, 32 }, f["input"].shape);
        Assert.Equal(161, f.State().Count);
        Assert.Contains(f.State().Values, t => t.numel() == 0);
    }
}
