using GenerateCT.Model.SuperRes;
using GenerateCT.Model.Tests.Fixtures;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GenerateCT.Model.Tests;

public class SuperResNumericParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void Tiny_unet_matches_the_reference_conditional_null_and_guided_outputs()
    {
        using var scope = NewDisposeScope();
        using var f = ReferenceFixture.Load("superres_unet_tiny");
        using var unet = new SuperResUnet(SuperResUnetConfig.Tiny);
        unet.load_state_dict(f.State(), strict: true);
        unet.eval();
        Assert.Equal(411_152, unet.parameters().Sum(p => p.numel()));

        using var noGrad = no_grad();
        var x = f["input.x"];
        var time = f["input.time"];
        var lowres = f["input.lowres_cond_img"];
        var lowresTimes = f["input.lowres_noise_times"];
        var text = f["input.text_embeds"];
        var mask = f["input.text_mask"];

        // the time inputs are log-SNR values: check our schedules produce the fed values from t
        var timeErr = ReferenceFixture.MaxAbsDiff(NoiseSchedule.Cosine.LogSnr(f["input.time_t"]), time);
        var lowresTimeErr = ReferenceFixture.MaxAbsDiff(NoiseSchedule.Linear.LogSnr(f["input.lowres_time_t"]), lowresTimes);

        var pred = unet.forward(x, time, lowres, lowresTimes, text, mask, condDropProb: 0);
        var predNull = unet.forward(x, time, lowres, lowresTimes, text, mask, condDropProb: 1);
        var predCfg = unet.ForwardWithCondScale(x, time, lowres, lowresTimes, text, mask, condScale: 3);

        var errors = new Dictionary<string, double>
        {
            ["input.time (cosine log-SNR of time_t)"] = timeErr,
            ["input.lowres_noise_times (linear log-SNR)"] = lowresTimeErr,
            ["out.pred"] = ReferenceFixture.MaxAbsDiff(pred, f["out.pred"]),
            ["out.pred_null"] = ReferenceFixture.MaxAbsDiff(predNull, f["out.pred_null"]),
            ["out.pred_cfg3"] = ReferenceFixture.MaxAbsDiff(predCfg, f["out.pred_cfg3"]),
        };
        foreach (var (name, err) in errors)
        {
            output.WriteLine($"{name,-45} max-abs error {err:E3}");
        }

        Assert.All(errors, kv => Assert.True(kv.Value <= Tolerance, $"{kv.Key}: {kv.Value:E3} > {Tolerance}"));
        // the fixture outputs are not trivial: conditioning changes the prediction
        Assert.True(ReferenceFixture.MaxAbsDiff(pred, predNull) > 1e-2);
    }
}
