using LicBackdoor.Backdoor.Triggers;
using static LicBackdoor.Tests.Backdoor.Triggers.TriggerTestHelpers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class LiraTriggerTests : TorchTest
{
    private static LiraTrigger Tiny16() => new(new LiraTriggerOptions(WidthMultiplier: Tiny));

    [Theory]
    [InlineData(32, 48)]
    [InlineData(20, 37)]
    public void ThePerturbationIsBoundedByEpsilonAndReachesIt(int h, int w)
    {
        var trigger = Tiny16();
        var x = SyntheticImages.Smooth(h, w, batch: 2);
        var y = trigger.forward(x);
        Assert.Equal(x.shape, y.shape);
        Assert.True((y - x).abs().max().item<float>() <= LiraTrigger.PaperEpsilon * (1 + 1e-5));
        // saturate tanh: the bound is reached, not exceeded
        using (no_grad()) Parameter(trigger, "head.bias").fill_(50);
        var d = (trigger.forward(x) - x).abs();
        Assert.True(d.max().item<float>() <= LiraTrigger.PaperEpsilon * (1 + 1e-5));
        Assert.True(d.min().item<float>() >= LiraTrigger.PaperEpsilon * (1 - 1e-4));
    }

    [Fact]
    public void TheGeneratorIsTrainable()
    {
        var trigger = Tiny16();
        var x = SyntheticImages.Smooth(32, 32, batch: 2);
        (trigger.forward(x) - x).sum().backward();
        foreach (var name in new[] { "enc1.conv1.weight", "enc5.conv2.weight", "up5.conv.weight", "dec2.conv1.weight", "head.weight" })
            Assert.True(Parameter(trigger, name).grad!.abs().sum().item<float>() > 0, name);
    }

    [Fact]
    public void HasThePaperWidthsAtMultiplierOne()
    {
        var keys = Tiny16().state_dict();
        Assert.Equal(new long[] { 4, 3, 3, 3 }, keys["enc1.conv1.weight"].shape);
        Assert.Equal(new long[] { 64, 32, 3, 3 }, keys["enc5.conv1.weight"].shape);   // 1024/16, 512/16
        Assert.Equal(new long[] { 3, 4, 1, 1 }, keys["head.weight"].shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LiraTrigger(new LiraTriggerOptions(Epsilon: 0)));
    }
}
