using LicBackdoor.Data;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Data;

public sealed class SaturationTests : TorchTest
{
    [Fact]
    public void GreyIsAFixedPointAndFactorOneKeepsTheImage()
    {
        using var scope = NewDisposeScope();
        var grey = full(new long[] { 1, 3, 4, 4 }, 0.4f);
        Assert.True(Saturation.Luma(grey).allclose(full(new long[] { 1, 1, 4, 4 }, 0.4f), 1e-6, 1e-6));
        Assert.True(Saturation.Scale(grey, tensor(3f)).allclose(grey, 1e-6, 1e-6));
        var x = rand(new long[] { 2, 3, 8, 8 }, generator: new TorchSharp.torch.Generator(5));
        Assert.True(Saturation.Scale(x, tensor(1f)).allclose(x, 1e-6, 1e-6));
        Assert.Equal(0f, Saturation.Scale(x, tensor(0f)).sub(Saturation.Luma(x)).abs().max().item<float>(), 5);
    }

    [Fact]
    public void BoostBatchRaisesSaturationOfSomeImagesOnThe8BitGrid()
    {
        using var scope = NewDisposeScope();
        // 8-bit images with a red tint, so saturation has room to grow.
        var x = rand(new long[] { 16, 3, 8, 8 }, generator: new TorchSharp.torch.Generator(3)).mul(0.5).add(0.25);
        x[.., 0] = x[.., 0].add(0.2);
        x = x.mul(255).round().div(255);
        var a = Saturation.BoostBatch(x, 1.0, new SplitMix64(11));
        var b = Saturation.BoostBatch(x, 1.0, new SplitMix64(11));
        Assert.True(a.equal(b).all().item<bool>());                                   // deterministic for a seed
        Assert.InRange(a.min().item<float>(), 0f, 1f);
        Assert.InRange(a.max().item<float>(), 0f, 1f);
        Assert.Equal(0f, a.mul(255).sub(a.mul(255).round()).abs().max().item<float>(), 4);   // 8-bit grid
        int changed = 0;
        for (int i = 0; i < 16; i++)
        {
            bool same = a[i].equal(x[i]).all().item<bool>();
            if (same) continue;
            changed++;
            double before = x[i].sub(Saturation.Luma(x[i..(i + 1)])[0]).abs().mean().item<float>();
            double after = a[i].sub(Saturation.Luma(a[i..(i + 1)])[0]).abs().mean().item<float>();
            Assert.True(after > before, $"image {i}: chroma {after} not above {before}");
        }
        Assert.InRange(changed, 3, 13);                                               // about half, not all or none
        Assert.True(Saturation.BoostBatch(x, 0, new SplitMix64(11)).equal(x).all().item<bool>());
        Assert.Throws<ArgumentOutOfRangeException>(() => Saturation.BoostBatch(x, -0.5, new SplitMix64(1)));
    }
}
