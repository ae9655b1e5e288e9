namespace GenerateCT.Model.Tests;

public class LearningRateScheduleTests
{
    [Fact]
    public void Warm_up_is_linear_then_the_half_cosine_reaches_zero_at_the_decay_end()
    {
        var schedule = new LearningRateSchedule(1e-3, WarmupSteps: 10, DecayEndStep: 110);
        Assert.Equal(1e-4, schedule.At(0), 12);
        Assert.Equal(1e-3, schedule.At(9), 12);
        Assert.Equal(1e-3, schedule.At(10), 12);
        Assert.Equal(0.5e-3, schedule.At(60), 12);
        Assert.Equal(0, schedule.At(110), 12);
        Assert.Equal(0, schedule.At(500), 12);
    }

    [Fact]
    public void Without_a_decay_end_the_rate_stays_at_its_peak_as_released()
    {
        var schedule = new LearningRateSchedule(5e-4);
        Assert.All(new long[] { 0, 1, 1000, 1_000_000 }, step => Assert.Equal(5e-4, schedule.At(step)));
    }
}
