using LicBackdoor.Codec.Ops;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Ops;

public sealed class OpsTests : TorchTest
{
    [Fact]
    public void LowerBound_ForwardIsMaxWithBound()
    {
        var lb = new LowerBound(0.5);
        var x = tensor(new float[] { -1, 0.25f, 0.5f, 2 });
        Assert.Equal(new float[] { 0.5f, 0.5f, 0.5f, 2 }, lb.forward(x).data<float>().ToArray());
    }

    [Fact]
    public void LowerBound_GradientPassesAboveBoundOrWhenNegative()
    {
        var x = tensor(new float[] { -1, 0.25f, 0.5f, 2 }).requires_grad_(true);
        var y = LowerBound.Apply(x, tensor(new float[] { 0.5f }));
        // positive upstream gradient: passes only where x >= bound (CompressAI test_ops: grad = (x>=bound)*g)
        y.backward(new[] { tensor(new float[] { 1, 1, 1, 1 }) });
        Assert.Equal(new float[] { 0, 0, 1, 1 }, x.grad!.data<float>().ToArray());
        // negative upstream gradient passes everywhere
        var x2 = tensor(new float[] { -1, 0.25f, 0.5f, 2 }).requires_grad_(true);
        LowerBound.Apply(x2, tensor(new float[] { 0.5f })).backward(new[] { tensor(new float[] { -1, -2, 3, -4 }) });
        Assert.Equal(new float[] { -1, -2, 3, -4 }, x2.grad!.data<float>().ToArray());
    }

    [Fact]
    public void LowerBound_HasCompressAiBufferKey()
    {
        Assert.Equal(new[] { "bound" }, new LowerBound(1e-9).state_dict().Keys);
    }

    [Fact]
    public void NonNegativeParametrizer_IsNonNegativeAndRespectsMinimum()
    {
        var p = new NonNegativeParametrizer(minimum: 0.1);
        var stored = p.Init(tensor(new float[] { 0, 0.05f, 0.1f, 0.5f, 3 }));
        var back = p.forward(stored).data<float>().ToArray();
        Assert.All(back, v => Assert.True(v >= 0.1f - 1e-6f));
        Assert.Equal(0.5f, back[3], 5);
        Assert.Equal(3f, back[4], 5);
        var random = p.forward(randn(1000)).data<float>().ToArray();
        Assert.All(random, v => Assert.True(v >= 0.1f - 1e-6f));
        Assert.Equal(new[] { "pedestal", "lower_bound.bound" }, p.state_dict().Keys);
        Assert.Equal(Math.Pow(2, -36), p.state_dict()["pedestal"].item<float>(), 15);
    }

    [Fact]
    public void RoundSte_RoundsForwardAndPassesGradient()
    {
        var x = tensor(new float[] { -1.6f, -0.4f, 0.5f, 1.5f, 2.49f }).requires_grad_(true);
        var y = Quantization.RoundSte(x);
        Assert.Equal(new float[] { -2, -0, 0, 2, 2 }, y.data<float>().ToArray());
        y.sum().backward();
        Assert.Equal(new float[] { 1, 1, 1, 1, 1 }, x.grad!.data<float>().ToArray());
    }
}
