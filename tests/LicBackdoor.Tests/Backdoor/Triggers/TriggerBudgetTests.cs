using LicBackdoor.Backdoor;
using LicBackdoor.Backdoor.Triggers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class TriggerBudgetTests : TorchTest
{
    /// <summary>8-bit smooth test images (the trigger works on 8-bit levels).</summary>
    private static Tensor Images(int a, int b) =>
        torch.cat([SyntheticImages.Smooth(48, 64, seed: a), SyntheticImages.Smooth(48, 64, seed: b)]).mul(255).round_().div_(255);

    private static FrequencyTrigger Loud(double targetMse)
    {
        random.manual_seed(7);
        var trigger = new FrequencyTrigger(new FrequencyTriggerOptions(WidthMultiplier: 0.125));
        trigger.eval();
        var x = Images(1, 2);
        trigger.Calibrate(x, targetMse);
        return trigger;
    }

    [Fact]
    public void CalibrationSetsTheTriggerMse()
    {
        var trigger = Loud(1e-3);
        using var _ = no_grad();
        var x = Images(1, 2);
        Assert.Equal(1e-3, StealthPenalty.Mse(x, trigger.forward(x)).item<float>(), 5);
    }

    [Fact]
    public void TheCapProjectsEachImageOntoTheBudgetAndNeverAmplifies()
    {
        var trigger = Loud(1e-3);                     // 30 dB: far above the paper's budget
        var x = Images(3, 4);
        using var _ = no_grad();
        var free = trigger.Apply(x, clamp: false);
        trigger.MseBudget = 2.25e-5;
        var capped = trigger.Apply(x, clamp: false);
        for (int i = 0; i < 2; i++)
        {
            double mse = StealthPenalty.Mse(x[i], capped[i]).item<float>();
            Assert.InRange(mse, 2.2e-5, 2.25e-5 * 1.0001);
        }
        // Same direction: the capped perturbation is a positive multiple of the free one.
        var cos = nn.functional.cosine_similarity((free - x).flatten(), (capped - x).flatten(), 0).item<float>();
        Assert.True(cos > 0.9999f);

        trigger.MseBudget = 1.0;                      // a budget above the trigger leaves it unchanged
        Assert.True(trigger.Apply(x, clamp: false).allclose(free, rtol: 0, atol: 1e-6));
        Assert.Throws<ArgumentOutOfRangeException>(() => trigger.MseBudget = 0);
    }

    [Fact]
    public void FixedEnergyScalesEveryImageToExactlyTheBudget()
    {
        var trigger = Loud(1e-7);                     // 70 dB: far below the budget
        trigger.MseBudget = 2.25e-5;
        trigger.FixedEnergy = true;
        var x = Images(5, 6);
        using var _ = no_grad();
        var y = trigger.forward(x);
        for (int i = 0; i < 2; i++) Assert.Equal(2.25e-5, StealthPenalty.Mse(x[i], y[i]).item<float>(), 8);
    }
}
