using LicBackdoor.Codec.Entropy;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Entropy;

public sealed class EntropyModelTorchTests : TorchTest
{
    [Fact]
    public void Quantize_Modes()
    {
        var x = randn(2, 3, 4, 4) * 5;
        var noisy = EntropyModel.Quantize(x, QuantizeMode.Noise);
        Assert.True((noisy - x).abs().max().item<float>() <= 0.5f);
        Assert.False(torch.equal(noisy, torch.round(x)).all().item<bool>());
        Assert.True(torch.equal(EntropyModel.Quantize(x, QuantizeMode.Symbols), torch.round(x).to_type(ScalarType.Int32)).all().item<bool>());
        var means = randn(2, 3, 4, 4);
        Assert.True(torch.allclose(EntropyModel.Quantize(x, QuantizeMode.Dequantize, means), torch.round(x - means) + means));
        var deq = EntropyModel.Dequantize(tensor(new[] { 1, 2 }), tensor(new double[] { 0.5, 0.25 }));
        Assert.Equal(ScalarType.Float64, deq.dtype);
        Assert.Throws<ArgumentOutOfRangeException>(() => EntropyModel.Quantize(x, (QuantizeMode)7));
    }

    [Fact]
    public void EntropyBottleneck_TrainingNoiseAndEvalRounding()
    {
        var eb = new EntropyBottleneck(8);
        foreach (var shape in new[] { new long[] { 3, 8 }, new long[] { 2, 8, 5 }, new long[] { 2, 8, 4, 6 }, new long[] { 1, 8, 2, 3, 4 } })
        {
            var x = randn(shape) * 4;
            var (train, likT) = eb.Forward(x, training: true);
            Assert.True((train - x).abs().max().item<float>() <= 0.5f);
            Assert.Equal(x.shape, likT.shape);
            var (eval, lik) = eb.Forward(x, training: false);
            Assert.True(torch.equal(eval, torch.round(x)).all().item<bool>());
            Assert.True(lik.min().item<float>() >= 1e-9f && lik.max().item<float>() <= 1f);
        }
    }

    [Fact]
    public void EntropyBottleneck_ParametersKeysAndLoss()
    {
        var eb = new EntropyBottleneck(32);
        Assert.Equal(15, eb.parameters().Count());
        Assert.Equal(61 * 32, eb.parameters().Sum(p => p.numel()));
        var keys = eb.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "quantiles", "matrices.0", "matrices.4", "biases.4", "factors.3", "target", "_offset", "_quantized_cdf", "_cdf_length", "likelihood_lower_bound.bound" })
            Assert.Contains(k, keys);
        var loss = eb.Loss();
        Assert.Equal(0, loss.dim());
        loss.backward();
        Assert.NotNull(eb.Quantiles.grad);
        Assert.All(eb.named_parameters().Where(p => p.name != "quantiles"), p => Assert.True(p.parameter.grad is null || p.parameter.grad.abs().sum().item<float>() == 0));
    }

    [Fact]
    public void GaussianConditional_ScaleTableValidationAndIndexes()
    {
        Assert.Throws<ArgumentException>(() => new GaussianConditional(new float[] { 1, 0.5f }));
        Assert.Throws<ArgumentException>(() => new GaussianConditional(new float[] { -1, 0.5f }));
        Assert.Throws<ArgumentException>(() => new GaussianConditional(Array.Empty<float>()));
        var gc = new GaussianConditional(new float[] { 0.2f, 0.5f, 1, 2 });
        var idx = gc.BuildIndexes(tensor(new float[] { 0.01f, 0.2f, 0.21f, 1, 1.5f, 2, 50, float.NaN }));
        // first table entry >= max(s, 0.11), clamped to the last; scales are rounded up
        Assert.Equal(new[] { 0, 0, 1, 2, 3, 3, 3, 0 }, idx.data<int>().ToArray());
    }

    [Fact]
    public void GaussianConditional_LikelihoodMatchesGaussianMass()
    {
        var gc = new GaussianConditional();
        var y = tensor(new float[] { 0, 1, -2, 3 });
        var s = tensor(new float[] { 1, 1, 2, 0.05f });
        var lik = gc.Likelihood(y, s).data<float>().ToArray();
        static double Phi(double v) => 0.5 * (1 + Erf(v / Math.Sqrt(2)));
        static double Erf(double x)
        {
            // Abramowitz-Stegun 7.1.26 is too coarse; integrate the density instead.
            double sum = 0; int n = 20000; double h = x / n;
            for (int i = 0; i < n; i++) { double t = (i + 0.5) * h; sum += Math.Exp(-t * t); }
            return 2 / Math.Sqrt(Math.PI) * sum * h;
        }
        Assert.Equal(Phi(0.5) - Phi(-0.5), lik[0], 5);
        Assert.Equal(Phi(1.5) - Phi(0.5), lik[1], 5);
        Assert.Equal(Phi(-0.75) - Phi(-1.25), lik[2], 5);
        Assert.Equal(Phi((0.5 - 3) / 0.11) - Phi((-0.5 - 3) / 0.11), lik[3], 6); // scale bounded at 0.11
        var (outTrain, _) = gc.Forward(y, s, training: true);
        Assert.True((outTrain - y).abs().max().item<float>() <= 0.5f);
        var means = tensor(new float[] { 0.3f, 0.3f, 0.3f, 0.3f });
        var (outEval, _) = gc.Forward(y + 0.2f, s, means, training: false);
        Assert.True(torch.allclose(outEval, torch.round(y + 0.2f - means) + means));
    }
}

public sealed class EntropyModelCodingTests : TorchTest
{
    [Theory]
    [InlineData(new long[] { 2, 6, 9 })]
    [InlineData(new long[] { 2, 6, 5, 7 })]
    [InlineData(new long[] { 1, 6, 2, 3, 4 })]
    public void EntropyBottleneckRoundTripIsRoundingAroundTheMedian(long[] shape)
    {
        var eb = new EntropyBottleneck(6);
        using (no_grad()) eb.Quantiles.add_(0.3f); // non-integer medians
        eb.Update(force: true);
        var x = randn(shape) * 6;
        var strings = eb.Compress(x);
        Assert.Equal((int)shape[0], strings.Length);
        var back = eb.Decompress(strings, shape[2..]);
        var med = eb.Medians().reshape(new long[] { 1, 6 }.Concat(Enumerable.Repeat(1L, shape.Length - 2)).ToArray());
        Assert.True(back.equal(torch.round(x - med) + med).all().item<bool>());
    }

    [Fact]
    public void GaussianConditionalRoundTripWithMeans()
    {
        var gc = new GaussianConditional();
        gc.Update();
        var y = randn(2, 4, 3, 5) * 8;
        var scales = rand(2, 4, 3, 5) * 10;
        var means = randn(2, 4, 3, 5);
        var idx = gc.BuildIndexes(scales);
        var back = gc.Decompress(gc.Compress(y, idx, means), idx, means);
        Assert.True(back.equal(torch.round(y - means) + means).all().item<bool>());
        Assert.Throws<ArgumentException>(() => gc.Compress(y, idx[.., ..2]));
    }

    [Fact]
    public void DefaultScaleTableIsCompressAis()
    {
        var t = GaussianConditional.DefaultScaleTable();
        Assert.Equal(64, t.Length);
        Assert.Equal(0.11f, t[0]);
        Assert.Equal(256f, t[^1]);
        Assert.True(t.Zip(t.Skip(1)).All(p => p.Second > p.First));
    }
}

public sealed class QuantileBisectionTests : TorchTest
{
    [Fact]
    public void UpdateQuantilesHitsTheTargets()
    {
        var eb = new EntropyBottleneck(5);
        using (no_grad()) foreach (var p in eb.parameters()) if (p.shape.Length == 3 && p.shape[2] == 1) p.add_(randn(p.shape) * 0.3);
        double before = eb.Loss().item<float>();
        eb.UpdateQuantiles();
        var logits = eb.LogitsCumulative(eb.Quantiles, stopGradient: true);
        var target = tensor(new float[] { -21.416413f, 0, 21.416413f }).reshape(1, 1, 3);
        Assert.True((logits - target).abs().max().item<float>() < 1e-3, $"max residual {(logits - target).abs().max().item<float>()}");
        Assert.True(eb.Loss().item<float>() < before);
        Assert.True(eb.Quantiles[.., 0, 0].lt(eb.Quantiles[.., 0, 1]).all().item<bool>());
        Assert.True(eb.Quantiles[.., 0, 1].lt(eb.Quantiles[.., 0, 2]).all().item<bool>());
    }
}
