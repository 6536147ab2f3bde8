using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class FTrojanTriggerTests : TorchTest
{
    [Theory]
    [InlineData(64, 96, 2.5e-5)]
    [InlineData(32, 32, 1e-4)]
    public void TheMseEqualsTheBudget(int h, int w, double budget)
    {
        var trigger = new FTrojanTrigger(new FTrojanTriggerOptions(MseBudget: budget));
        var x = SyntheticImages.Smooth(h, w, batch: 2);
        double mse = StealthPenalty.Mse(x, trigger.forward(x)).item<float>();
        Assert.InRange(mse / budget, 0.99, 1.01);
    }

    [Theory]
    [InlineData(20, 37)]
    [InlineData(9, 5)]
    public void OtherSizesKeepTheBudgetToo(int h, int w)
    {
        var trigger = new FTrojanTrigger();
        var x = SyntheticImages.Smooth(h, w);
        var y = trigger.forward(x);
        Assert.Equal(x.shape, y.shape);
        double mse = StealthPenalty.Mse(x, y).item<float>();
        Assert.InRange(mse / FTrojanTrigger.DefaultMseBudget, 0.99, 1.01);
    }

    [Fact]
    public void TheMagnitudeIsFTrojansOfficialTwentyInAnOrthonormalDct() =>
        Assert.InRange(new FTrojanTrigger().Magnitude / 64, 19.9, 20.1);   // unnormalised = 2N × orthonormal, N = 32

    [Fact]
    public void OnlyTheChromaCoefficientsAtTheFixedPositionsChange()
    {
        var trigger = new FTrojanTrigger();
        var x = SyntheticImages.Smooth(64, 32).to_type(ScalarType.Float64);
        var delta = BlockDct.Forward(YCbCr.FromRgb(trigger.forward(x).mul(255)) - YCbCr.FromRgb(x.mul(255)), 32);
        var expected = zeros_like(delta);
        foreach (int c in new[] { 1, 2 })
            foreach (var (u, v) in new[] { (15, 15), (31, 31) })
                for (int by = 0; by < 2; by++)
                    expected[0, c, by * 32 + u, v] = tensor(trigger.Magnitude, ScalarType.Float64);
        Assert.True((delta - expected).abs().max().item<double>() < 1e-3 * trigger.Magnitude);
    }

    [Fact]
    public void HasNoParametersAndAnEmptyStateDict()
    {
        var trigger = new FTrojanTrigger();
        Assert.Empty(trigger.parameters());
        Assert.Empty(trigger.state_dict());
        Assert.Equal("ftrojan", trigger.Name);
        var x = SyntheticImages.Smooth(32, 32);
        var clamped = trigger.Apply(ones_like(x), clamp: true);
        Assert.True(clamped.max().item<float>() <= 1);
    }
}
