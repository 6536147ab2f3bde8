using LicBackdoor.Codec.Training;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Training;

public sealed class AdamTests : TorchTest
{
    [Fact]
    public void WeightDecayMatchesPyTorchsAdam()
    {
        using var scope = NewDisposeScope();
        var init = randn(5, 4);
        var target = randn(5, 4);
        var a = new TorchSharp.Modules.Parameter(init.clone());
        var b = new TorchSharp.Modules.Parameter(init.clone());
        using var ours = new Adam([("w", a)], 1e-2) { WeightDecay = 0.05 };
        var theirs = optim.Adam([b], lr: 1e-2, weight_decay: 0.05);
        for (int i = 0; i < 5; i++)
        {
            ours.ZeroGrad();
            (a - target).pow(2).sum().backward();
            ours.Update();
            theirs.zero_grad();
            (b - target).pow(2).sum().backward();
            theirs.step();
        }
        Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-6), $"max |Δ| {(a - b).abs().max().item<float>()}");
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam([("w", a)], 1e-2) { WeightDecay = -1 });
    }
}
