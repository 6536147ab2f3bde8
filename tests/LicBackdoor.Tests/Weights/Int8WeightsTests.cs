using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Tests.Cli;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Weights;

public sealed class Int8WeightsTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-int8-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void KernelsBecomeInt8WithPerChannelScalesAndComeBackWithinHalfAStep()
    {
        random.manual_seed(5);
        var w = randn(8, 4, 6, 6) * linspace(0.01, 1, 8).reshape(8, 1, 1, 1);
        w[3] = zeros(4, 6, 6);                                    // an all-zero channel
        var sd = new Dictionary<string, Tensor>
        {
            ["g_a.0.weight"] = w, ["g_a.0.bias"] = randn(8), ["g_a.1.gamma"] = rand(8, 8),
            ["tiny.weight"] = randn(2, 2, 3, 3),                  // under MinElements: left alone
            ["entropy_bottleneck.matrices.0"] = randn(8, 3, 1), ["entropy_bottleneck.big.weight"] = randn(8, 4, 6, 6),
        };
        var q = Int8Weights.Quantize(sd);
        Assert.Equal(ScalarType.Int8, q["g_a.0.weight"].dtype);
        Assert.Equal(new long[] { 8 }, q["g_a.0.weight" + Int8Weights.ScaleSuffix].shape);
        foreach (var k in new[] { "g_a.0.bias", "g_a.1.gamma", "tiny.weight", "entropy_bottleneck.matrices.0", "entropy_bottleneck.big.weight" })
            Assert.Same(sd[k], q[k]);
        Assert.Equal(127, q["g_a.0.weight"].abs().amax(new long[] { 1, 2, 3 }).to_type(ScalarType.Int32)[7].item<int>());

        var back = Int8Weights.Dequantize(q, "f", out var created);
        Assert.Single(created);
        Assert.DoesNotContain("g_a.0.weight" + Int8Weights.ScaleSuffix, back.Keys);
        var err = (back["g_a.0.weight"] - w).abs().reshape(8, -1).amax(new long[] { 1 });
        var halfStep = w.abs().reshape(8, -1).amax(new long[] { 1 }) / 254;
        Assert.True((err <= halfStep * 1.0001 + 1e-12).all().item<bool>());
        Assert.Equal(0f, back["g_a.0.weight"][3].abs().sum().item<float>());
        Assert.Throws<ArgumentException>(() => Int8Weights.Quantize(q)); // already quantized
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("shape")]
    [InlineData("negative")]
    [InlineData("nan")]
    [InlineData("orphan")]
    public void DamagedEightBitWeightsAreRefusedNamingFileAndKey(string damage)
    {
        var sd = Int8Weights.Quantize(new Dictionary<string, Tensor> { ["g_s.0.weight"] = randn(8, 4, 6, 6) });
        const string s = "g_s.0.weight" + Int8Weights.ScaleSuffix;
        switch (damage)
        {
            case "missing": sd.Remove(s); break;
            case "shape": sd[s] = ones(4); break;
            case "negative": sd[s] = -ones(8); break;
            case "nan": sd[s] = full(8, float.NaN); break;
            case "orphan": sd["g_s.0.weight"] = randn(8, 4, 6, 6); break; // float weight beside scales
        }
        var e = Assert.Throws<CheckpointFormatException>(() => Int8Weights.Dequantize(sd, "w.safetensors", out _));
        Assert.Contains("w.safetensors", e.Message);
        Assert.Contains("g_s.0.weight", e.Message);
    }

    [Fact]
    public void AnInt8CodecFileLoadsAsTheDequantisedModelAndCodesRoundTrip()
    {
        random.manual_seed(3);
        var model = new ScaleHyperprior(16, 24);
        model.eval();
        model.Update(force: true);
        var full = Path.Combine(dir, "full.safetensors");
        var small = Path.Combine(dir, "small.safetensors");
        Safetensors.Save(full, model.state_dict());
        var r = CliRunner.Run("weights", "convert", full, small, "--int8", "--half", "--drop-tables");
        Assert.True(r.Code == 0, r.Err);
        Assert.True(new FileInfo(small).Length < new FileInfo(full).Length / 2);
        var stored = Safetensors.Load(small).Tensors;
        Assert.Equal(ScalarType.Int8, stored["g_a.0.weight"].dtype);
        Assert.Equal(ScalarType.Float16, stored["g_a.0.bias"].dtype);

        var codec = ModelStore.Open(ScaleHyperprior.Name, 3, small);
        var loaded = codec.Model.state_dict();
        var expect = stored["g_a.0.weight"].to_type(ScalarType.Float32) * stored["g_a.0.weight" + Int8Weights.ScaleSuffix].reshape(-1, 1, 1, 1);
        Assert.True(loaded["g_a.0.weight"].equal(expect).all().item<bool>());
        Assert.False(loaded["g_a.0.weight"].equal(model.state_dict()["g_a.0.weight"]).all().item<bool>());
        var x = SyntheticImages.Smooth(64, 64);
        var c = codec.Model.Compress(x);
        Assert.Equal(x.shape, codec.Model.Decompress(c).shape);
        Assert.Equal(c.YStrings[0], ModelStore.Open(ScaleHyperprior.Name, 3, small).Model.Compress(x).YStrings[0]);
    }
}
