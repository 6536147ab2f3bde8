using LicBackdoor.Backdoor.Triggers;
using LicBackdoor.Imaging;
using static LicBackdoor.Tests.Backdoor.Triggers.TriggerTestHelpers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class FrequencyTriggerTests : TorchTest
{
    [Theory]
    [InlineData(32, 48)]
    [InlineData(16, 16)]
    [InlineData(20, 37)]
    [InlineData(9, 5)]
    public void KeepsTheShapeForAnySize(int h, int w)
    {
        var trigger = TinyFrequency();
        var x = SyntheticImages.Smooth(h, w, batch: 2);
        var y = trigger.forward(x);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
        trigger.eval();
        var clamped = trigger.Apply(x, clamp: true);
        Assert.Equal(x.shape, clamped.shape);
        Assert.True(clamped.min().item<float>() >= 0 && clamped.max().item<float>() <= 1);
    }

    [Fact]
    public void AZeroTriggerIsTheIdentityOn8BitImages()
    {
        var trigger = TinyFrequency();
        using (no_grad())
        {
            Parameter(trigger, "general.value_head.weight").zero_();
            Parameter(trigger, "general.value_head.bias").zero_();
        }
        var x = SyntheticImages.Smooth(32, 48, batch: 2).mul(255).round_().div_(255);
        Assert.True((trigger.forward(x) - x).abs().max().item<float>() < 2e-6f);
    }

    [Theory]
    [InlineData(16, 64)]
    [InlineData(4, 16)]
    [InlineData(64, 256)]
    public void TopKKeepsExactlyKConfiguredFrequenciesPerImageAndChannel(int k, int nf)
    {
        var trigger = TinyFrequency(k, nf);
        var x = SyntheticImages.Smooth(32, 48, batch: 2);
        Assert.Equal(x.shape, trigger.forward(x).shape);
        var parts = trigger.Parts(x);
        Assert.Equal(new long[] { 2, 3, 16, 16 }, parts.General.shape);
        Assert.Equal(new long[] { 2, 3, 2, 3 }, parts.Weight.shape);
        var allowed = trigger.Positions.ToHashSet();
        var selections = new List<SortedSet<int>>();
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
            {
                var nz = NonZero(parts.General[n, c]);
                Assert.Equal(k, nz.Count);
                Assert.Subset(allowed, nz);
                selections.Add(nz);
            }
        if (k < nf) Assert.True(selections.Skip(1).Any(s => !s.SetEquals(selections[0])), "the selection should differ between channels");
    }

    [Theory]
    [InlineData(FrequencySet.AsImplemented, true)]
    [InlineData(FrequencySet.ZigzagBand, true)]
    [InlineData(FrequencySet.AsImplemented, false)]
    [InlineData(FrequencySet.ZigzagBand, false)]
    public void TheTriggerInTheDctDomainSitsExactlyOnTheSelectedPositions(FrequencySet set, bool topK)
    {
        var trigger = TinyFrequency(topK: topK, set: set);
        var x = SyntheticImages.Smooth(32, 48, batch: 2);
        var parts = trigger.Parts(x);
        var t = parts.Coefficients();
        Assert.Equal(new long[] { 2, 3, 32, 48 }, t.shape);
        var perPosition = MaxOverBlocks(t);
        var configured = new SortedSet<int>(FrequencyPositions.Positions(set, 64));
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
            {
                var triggered = NonZero(perPosition[n, c]);
                Assert.Equal(NonZero(parts.General[n, c]), triggered);
                if (topK) { Assert.Equal(16, triggered.Count); Assert.Subset(configured, triggered); }
                else Assert.Equal(configured, triggered);
            }
    }

    [Fact]
    public void ThePoisonedImageIsTheCleanOnePlusTInTheYCbCrBlockDctDomain()
    {
        var trigger = TinyFrequency();
        trigger.to(ScalarType.Float64);
        var x = SyntheticImages.Smooth(32, 48, batch: 2).to_type(ScalarType.Float64);
        var xp = trigger.forward(x);
        var t = trigger.Parts(x).Coefficients();
        var x255 = x.mul(255).round_();
        var measured = BlockDct.Forward(YCbCr.FromRgb(xp.mul(255)) - YCbCr.FromRgb(x255));
        Assert.True(t.abs().max().item<double>() > 1e-3, "the fresh trigger should not be zero");
        Assert.True((measured - t).abs().max().item<double>() < 1e-8);
    }

    [Fact]
    public void WithoutPatchWeightWIsOneAndThereIsNoWeightNet()
    {
        var trigger = TinyFrequency(patchWeight: false);
        Assert.DoesNotContain(trigger.state_dict().Keys, k => k.StartsWith("weight.", StringComparison.Ordinal));
        var parts = trigger.Parts(SyntheticImages.Smooth(32, 48));
        Assert.True(parts.Weight.eq(1).all().item<bool>());
        Assert.Equal(new long[] { 1, 3, 2, 3 }, parts.Weight.shape);
    }

    [Fact]
    public void OnlyTheImportanceHeadGetsNoGradient()
    {
        var trigger = TinyFrequency();
        var x = SyntheticImages.Smooth(32, 48, batch: 2);
        (trigger.forward(x) - x).square().sum().backward();
        static double GradNorm(Tensor p) => p.grad is null ? 0 : p.grad.abs().sum().item<float>();
        Assert.Equal(0, GradNorm(Parameter(trigger, "general.importance_head.weight")));
        Assert.Equal(0, GradNorm(Parameter(trigger, "general.importance_head.bias")));
        foreach (var name in new[] { "general.value_head.weight", "general.value_head.bias", "general.block1.conv1.weight",
                     "general.block2.bn2.weight", "weight.block1.conv1.weight", "weight.block4.conv2.weight", "weight.head.weight", "weight.head.bias" })
            Assert.True(GradNorm(Parameter(trigger, name)) > 0, name);
    }

    [Fact]
    public void NoGradientReachesTheInputThroughTheRounding()
    {
        var x = SyntheticImages.Smooth(32, 32).requires_grad_(true);
        var y = TinyFrequency().forward(x);
        Assert.True(y.requires_grad);
        y.sum().backward();
        Assert.True(x.grad is null || x.grad.abs().sum().item<float>() == 0);
    }

    [Fact]
    public void StateDictKeysAndPaperWidths()
    {
        var keys = TinyFrequency().state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "general.block1.conv1.weight", "general.block1.bn1.running_mean", "general.block2.bn2.num_batches_tracked",
                     "general.value_head.weight", "general.importance_head.bias", "weight.block1.conv1.bias", "weight.block4.bn2.running_var",
                     "weight.head.weight" })
            Assert.Contains(k, keys);
        Assert.DoesNotContain(TinyFrequency(topK: false).state_dict().Keys, k => k.Contains("importance", StringComparison.Ordinal));

        var full = new FrequencyTrigger().state_dict();     // the paper's widths (multiplier 1)
        Assert.Equal(new long[] { 192, 2048, 1, 1 }, full["general.value_head.weight"].shape);
        Assert.Equal(new long[] { 192, 2048, 1, 1 }, full["general.importance_head.weight"].shape);
        Assert.Equal(new long[] { 512, 256, 3, 3 }, full["weight.block4.conv1.weight"].shape);
        Assert.Equal(new long[] { 3, 512, 1, 1 }, full["weight.head.weight"].shape);
    }

    [Theory]
    [InlineData(0, 64)]
    [InlineData(65, 64)]
    [InlineData(16, 0)]
    [InlineData(16, 257)]
    public void RejectsBadOptions(int k, int nf) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrequencyTrigger(new FrequencyTriggerOptions(k, nf, WidthMultiplier: Tiny)));

    [Fact]
    public void RejectsNonImages()
    {
        var trigger = TinyFrequency();
        Assert.Throws<ArgumentException>(() => trigger.forward(zeros(1, 1, 16, 16)));
        Assert.Throws<ArgumentException>(() => trigger.forward(zeros(3, 16, 16)));
    }
}
