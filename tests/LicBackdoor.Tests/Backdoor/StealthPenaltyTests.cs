using LicBackdoor.Backdoor;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor;

public sealed class StealthPenaltyTests : TorchTest
{
    [Fact]
    public void PaperConstants()
    {
        var s = new StealthPenalty();
        Assert.Equal(1e4, s.Gamma);
        Assert.Equal(0.005, s.Epsilon);
        Assert.Equal(2.5e-5, s.Budget, 15);
    }

    [Fact]
    public void BelowTheBudgetItIsConstantWithNoGradient()
    {
        var x = SyntheticImages.Smooth(8, 8);
        var p = (x + 0.003).requires_grad_(true);           // MSE 9e-6 < 2.5e-5
        var s = new StealthPenalty().Compute(x, p);
        Assert.Equal(1e4 * 2.5e-5, s.item<float>(), 5);
        s.backward();
        Assert.Equal(0, p.grad!.abs().max().item<float>());
    }

    [Fact]
    public void AboveTheBudgetItIsGammaTimesMseWithItsGradient()
    {
        var x = SyntheticImages.Smooth(8, 8);
        var d = full_like(x, 0.01);
        d[0, 1] = d[0, 1].neg();
        var p = (x + d).requires_grad_(true);               // MSE 1e-4 > 2.5e-5
        var s = new StealthPenalty().Compute(x, p);
        Assert.Equal(1e4 * 1e-4, s.item<float>(), 4);
        s.backward();
        var expected = d * (2e4 / x.numel());               // γ · 2(p − x) / numel
        Assert.True((p.grad! - expected).abs().max().item<float>() < 1e-4f);
    }

    [Fact]
    public void RejectsDifferentShapes() =>
        Assert.Throws<ArgumentException>(() => new StealthPenalty().Compute(zeros(1, 3, 4, 4), zeros(1, 3, 4, 5)));
}
