using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Models;

public sealed class ModelShapeTests : TorchTest
{
    private static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void ParameterCountsMatchCompressAi()
    {
        // Derived from CompressAI's constructors (spec §1.2, §1.3).
        Assert.Equal(5_075_843, Count(new ScaleHyperprior(128, 192)));
        Assert.Equal(11_833_149, Count(new Cheng2020Anchor(128)));
    }

    [Theory]
    [InlineData(ScaleHyperprior.Name)]
    [InlineData(Cheng2020Anchor.Name)]
    public void ForwardShapes(string name)
    {
        var model = ModelZoo.Build(name, 16, 24);   // for cheng2020-anchor a decoupled M (CompressAI: M = N)
        const int m = 24;
        var x = rand(2, 3, 64, 128);
        model.train();
        var o = model.forward(x);
        Assert.Equal(x.shape, o.XHat.shape);
        Assert.Equal(new long[] { 2, m, 4, 8 }, o.Likelihoods["y"].shape);
        Assert.Equal(new long[] { 2, 16, 1, 2 }, o.Likelihoods["z"].shape);
        model.eval();
        var e = model.forward(x);
        Assert.True(e.Likelihoods["y"].max().item<float>() <= 1f);
    }

    [Fact]
    public void StateDictKeysMatchCompressAi()
    {
        var h = new ScaleHyperprior(8, 12).state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "g_a.0.weight", "g_a.1.beta", "g_a.1.gamma_reparam.lower_bound.bound", "g_a.6.bias", "g_s.6.weight", "g_s.5.beta",
                     "h_a.4.weight", "h_s.4.bias", "entropy_bottleneck.quantiles", "entropy_bottleneck.matrices.0", "entropy_bottleneck._offset",
                     "gaussian_conditional.scale_table", "gaussian_conditional.scale_bound", "gaussian_conditional.lower_bound_scale.bound",
                     "gaussian_conditional._quantized_cdf", "gaussian_conditional.likelihood_lower_bound.bound" })
            Assert.Contains(k, h);
        var c = new Cheng2020Anchor(8).state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "g_a.0.conv1.weight", "g_a.0.skip.weight", "g_a.0.gdn.beta", "g_a.1.conv2.bias", "g_a.6.weight", "h_a.8.weight",
                     "h_s.2.0.weight", "h_s.6.0.bias", "h_s.8.weight", "g_s.1.subpel_conv.0.weight", "g_s.1.upsample.0.bias", "g_s.1.igdn.gamma",
                     "g_s.1.conv.weight", "g_s.7.0.weight", "entropy_parameters.0.weight", "entropy_parameters.4.bias",
                     "context_prediction.weight", "context_prediction.mask", "context_prediction.bias" })
            Assert.Contains(k, c);
        var sd = new Cheng2020Anchor(128).state_dict();
        Assert.Equal(new long[] { 426, 512, 1, 1 }, sd["entropy_parameters.0.weight"].shape);
        Assert.Equal(new long[] { 341, 426, 1, 1 }, sd["entropy_parameters.2.weight"].shape);
        Assert.Equal(new long[] { 256, 128, 5, 5 }, sd["context_prediction.mask"].shape);
        Assert.Equal(new long[] { 12, 128, 3, 3 }, sd["g_s.7.0.weight"].shape);
        Assert.Equal(new long[] { 768, 192, 3, 3 }, sd["h_s.6.0.weight"].shape);
        var hs = new ScaleHyperprior(128, 192).state_dict();
        Assert.Equal(new long[] { 192, 128, 5, 5 }, hs["g_s.0.weight"].shape); // ConvTranspose [in, out, k, k]
    }

    [Fact]
    public void ChengWithADecoupledMPutsMOnTheLatentSideOnlyAndLoadsBack()
    {
        var model = new Cheng2020Anchor(16, 24);
        Assert.Equal((16, 24), (model.N, model.M));
        var sd = model.state_dict();
        Assert.Equal(new long[] { 24, 16, 3, 3 }, sd["g_a.6.weight"].shape);
        Assert.Equal(new long[] { 16, 24, 3, 3 }, sd["h_a.0.weight"].shape);
        Assert.Equal(new long[] { 48, 24, 3, 3 }, sd["h_s.8.weight"].shape);
        Assert.Equal(new long[] { 16, 24, 1, 1 }, sd["g_s.0.skip.weight"].shape); // ResidualBlock(M, N) gains its 1x1 skip
        Assert.Equal(new long[] { 48, 24, 5, 5 }, sd["context_prediction.mask"].shape);
        Assert.Equal(new long[] { 80, 96, 1, 1 }, sd["entropy_parameters.0.weight"].shape);
        Assert.Equal(new long[] { 16, 16, 3, 3 }, sd["h_a.8.weight"].shape);              // z keeps N channels
        Assert.DoesNotContain("g_s.0.skip.weight", new Cheng2020Anchor(16).state_dict().Keys);
        var loaded = (Cheng2020Anchor)ModelStore.FromStateDict(Cheng2020Anchor.Name, sd, "test");
        Assert.Equal((16, 24), (loaded.N, loaded.M));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Cheng2020Anchor(16, 7));
    }

    [Fact]
    public void ZooTable()
    {
        Assert.Equal(8, ModelZoo.Qualities(ScaleHyperprior.Name).Count);
        Assert.Equal(6, ModelZoo.Qualities(Cheng2020Anchor.Name).Count);
        Assert.Equal((128, 192), (ModelZoo.Get(ScaleHyperprior.Name, 5).N, ModelZoo.Get(ScaleHyperprior.Name, 5).M));
        Assert.Equal((192, 320), (ModelZoo.Get(ScaleHyperprior.Name, 6).N, ModelZoo.Get(ScaleHyperprior.Name, 6).M));
        Assert.Equal(128, ModelZoo.Get(Cheng2020Anchor.Name, 3).N);
        Assert.Equal(192, ModelZoo.Get(Cheng2020Anchor.Name, 4).N);
        Assert.Equal(0.0067, ModelZoo.Get(Cheng2020Anchor.Name, 3).LambdaMse);
        Assert.Equal(0.18, ModelZoo.Get(ScaleHyperprior.Name, 8).LambdaMse);
        Assert.Throws<ArgumentException>(() => ModelZoo.Get(Cheng2020Anchor.Name, 7));
        Assert.Throws<ArgumentException>(() => ModelZoo.Get("nope", 1));
    }
}
