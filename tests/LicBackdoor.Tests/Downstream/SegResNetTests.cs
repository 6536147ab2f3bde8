using LicBackdoor.Downstream;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Downstream;

public sealed class SegResNetTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-segresnet-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData(37, 53)]
    [InlineData(1, 1)]
    [InlineData(64, 32)]
    public void OutputKeepsAnyInputSize(int h, int w)
    {
        using var net = new SegResNet(8);
        net.eval();
        using var scope = NewDisposeScope();
        var y = net.forward(randn(2, 3, h, w));
        Assert.Equal(new long[] { 2, 12, h, w }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
        Assert.Throws<ArgumentException>(() => net.forward(randn(1, 1, 8, 8)));
    }

    [Fact]
    public void BothArchitecturesGiveLogitsAtOddImageSizes()
    {
        using var scope = NewDisposeScope();
        var x = rand(1, 3, 37, 53).requires_grad_(true);
        foreach (var arch in SegmentationNets.Names)
        {
            using var net = SegmentationNets.Create(arch, SegmentationPreprocessing.Normalized(0.5, arch == "enet" ? 8 : 1), resnetWidth: 8);
            net.eval();
            var logits = net.Logits(x);
            Assert.Equal(new long[] { 1, 12, 37, 53 }, logits.shape);
            Assert.Equal(new long[] { 1, 37, 53 }, net.Predict(x.detach()).shape);
            logits[.., 3].mean().backward();
            Assert.True(x.grad!.abs().sum().item<float>() > 0, arch);
            x.grad.zero_();
        }
        // ENet's input sides must stay multiples of 8: a preprocessing that does not guarantee it is refused.
        using var enet = new ENet();
        Assert.Throws<ArgumentException>(() => enet.Preprocessing = SegmentationPreprocessing.Normalized(1, 1));
    }

    [Fact]
    public void ResidualBlocksStartAsTheIdentityAndWidthIsRecorded()
    {
        using var net = new SegResNet(12);
        var sd = net.state_dict();
        Assert.Equal(0f, sd["layer1.0.bn2.weight"].abs().sum().item<float>());
        Assert.Contains("layer4.1.conv2.weight", sd.Keys);
        var path = Path.Combine(dir, "r.safetensors");
        net.Save(path);
        var meta = Safetensors.Load(path).Metadata;
        Assert.Equal(SegResNet.ModelName, meta["licb.model"]);
        Assert.Equal("12", meta["licb.segresnet.width"]);
        using var loaded = SegmentationNets.FromFile(path);
        Assert.Equal(12, Assert.IsType<SegResNet>(loaded).Width);
        using var standard = new SegResNet();
        Assert.InRange(standard.parameters().Sum(p => p.numel()), 3_400_000, 3_700_000);   // the size the docs give
    }
}
