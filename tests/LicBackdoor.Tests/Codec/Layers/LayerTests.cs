using LicBackdoor.Codec.Layers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Layers;

public sealed class LayerTests : TorchTest
{
    [Fact]
    public void Gdn_AtInitIsClosedForm()
    {
        var x = randn(2, 16, 8, 8) * 3;
        var expected = x / torch.sqrt(1 + 0.1 * x * x);
        var y = new Gdn(16).forward(x);
        Assert.True(torch.allclose(y, expected, rtol: 1e-4, atol: 1e-5));
        var yi = new Gdn(16, inverse: true).forward(x);
        Assert.True(torch.allclose(yi, x * torch.sqrt(1 + 0.1 * x * x), rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void Gdn_HasCompressAiKeysAndUsesRowAsOutputChannel()
    {
        var gdn = new Gdn(3);
        Assert.Equal(new[] { "beta", "gamma", "beta_reparam.pedestal", "beta_reparam.lower_bound.bound", "gamma_reparam.pedestal", "gamma_reparam.lower_bound.bound" },
            gdn.state_dict().Keys);
        // gamma[0,1] large: channel 0 is normalised by channel 1's energy, not the reverse.
        using (no_grad())
        {
            var g = torch.eye(3) * 0f;
            g[0, 1] = 1f;
            gdn.state_dict()["gamma"].copy_(torch.sqrt(g + Math.Pow(2, -36)));
        }
        var x = tensor(new float[] { 1, 2, 0 }).reshape(1, 3, 1, 1);
        var y = gdn.forward(x).flatten().data<float>().ToArray();
        Assert.Equal(1 / MathF.Sqrt(1 + 4), y[0], 4);
        Assert.Equal(2f, y[1], 4);
    }

    [Fact]
    public void MaskedConv_TypeAAndBMasks()
    {
        var a = MaskedConv2d.BuildMask(1, 1, 5, 5, MaskType.A)[0, 0];
        Assert.Equal(12, a.sum().item<float>());
        Assert.Equal(0, a[2, 2].item<float>());
        Assert.Equal(1, a[2, 1].item<float>());
        Assert.Equal(0, a[3, 0].item<float>());
        var b = MaskedConv2d.BuildMask(1, 1, 5, 5, MaskType.B)[0, 0];
        Assert.Equal(13, b.sum().item<float>());
        Assert.Equal(1, b[2, 2].item<float>());
        // 1-D kernels (CompressAI test_layers)
        Assert.Equal(new float[] { 1, 0, 0 }, MaskedConv2d.BuildMask(1, 1, 1, 3, MaskType.A).flatten().data<float>().ToArray());
        Assert.Equal(new float[] { 1, 1, 0 }, MaskedConv2d.BuildMask(1, 1, 1, 3, MaskType.B).flatten().data<float>().ToArray());
        Assert.Equal(new float[] { 1, 0, 0 }, MaskedConv2d.BuildMask(1, 1, 3, 1, MaskType.A).flatten().data<float>().ToArray());
    }

    [Fact]
    public void MaskedConv_OutputIgnoresFuturePositions()
    {
        var conv = new MaskedConv2d(4, 8, 5, padding: 2);
        var x = randn(1, 4, 9, 9);
        var y1 = conv.forward(x);
        var x2 = x.clone();
        x2[.., .., 4, 4..] = randn(1, 4, 5);   // current and later positions in raster order
        x2[.., .., 5.., ..] = randn(1, 4, 4, 9);
        var y2 = conv.forward(x2);
        Assert.True(torch.allclose(y1[.., .., 4, 4], y2[.., .., 4, 4]));
        Assert.Equal(new[] { "weight", "bias", "mask" }, conv.state_dict().Keys);
    }

    [Fact]
    public void ResidualBlocks_ShapesAndKeys()
    {
        var x = randn(1, 8, 16, 16);
        Assert.Equal(new long[] { 1, 12, 8, 8 }, new ResidualBlockWithStride(8, 12).forward(x).shape);
        Assert.Equal(new long[] { 1, 8, 16, 16 }, new ResidualBlock(8, 8).forward(x).shape);
        Assert.Equal(new long[] { 1, 6, 32, 32 }, new ResidualBlockUpsample(8, 6).forward(x).shape);
        Assert.Contains("skip.weight", new ResidualBlockWithStride(8, 12).state_dict().Keys);
        Assert.Contains("gdn.gamma", new ResidualBlockWithStride(8, 12).state_dict().Keys);
        Assert.DoesNotContain("skip.weight", new ResidualBlock(8, 8).state_dict().Keys);
        Assert.Contains("skip.weight", new ResidualBlock(8, 4).state_dict().Keys);
        var up = new ResidualBlockUpsample(8, 6).state_dict().Keys;
        Assert.Contains("subpel_conv.0.weight", up);
        Assert.Contains("upsample.0.weight", up);
        Assert.Contains("igdn.beta", up);
    }

    [Fact]
    public void SubpelConv_PixelShuffleLayout()
    {
        // channel c*r*r + i*r + j maps to output pixel (c, h*r+i, w*r+j)
        var shuffle = nn.PixelShuffle(2);
        var x = arange(8, dtype: ScalarType.Float32).reshape(1, 8, 1, 1);
        var y = shuffle.forward(x);
        Assert.Equal(new long[] { 1, 2, 2, 2 }, y.shape);
        Assert.Equal(5f, y[0, 1, 0, 1].item<float>());
        Assert.Equal(6f, y[0, 1, 1, 0].item<float>());
    }
}
