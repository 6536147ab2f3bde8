using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Imaging;

public sealed class YCbCrTests : TorchTest
{
    [Theory]
    [InlineData(255, 255, 255, 255, 128, 128)]
    [InlineData(0, 0, 0, 0, 128, 128)]
    [InlineData(255, 0, 0, 76.245, 84.97232, 255.5)]
    [InlineData(0, 0, 255, 29.07, 255.5, 107.26544)]
    public void ForwardIsJpegFullRange(double r, double g, double b, double y, double cb, double cr)
    {
        var ycc = YCbCr.FromRgb(tensor(new[] { r, g, b }, new long[] { 1, 3, 1, 1 }));
        Assert.Equal(y, ycc[0, 0, 0, 0].item<double>(), 9);
        Assert.Equal(cb, ycc[0, 1, 0, 0].item<double>(), 9);
        Assert.Equal(cr, ycc[0, 2, 0, 0].item<double>(), 9);
    }

    [Fact]
    public void RoundTripsAndTheDifferenceMapIsTheLinearPart()
    {
        var x = rand(2, 3, 8, 12).mul_(255);
        Assert.True((YCbCr.ToRgb(YCbCr.FromRgb(x)) - x).abs().max().item<float>() < 1e-3f);
        var d = randn(2, 3, 8, 12);
        var viaOffsets = YCbCr.ToRgb(YCbCr.FromRgb(x) + d) - YCbCr.ToRgb(YCbCr.FromRgb(x));
        Assert.True((viaOffsets - YCbCr.DifferenceToRgb(d)).abs().max().item<float>() < 1e-3f);
    }
}
