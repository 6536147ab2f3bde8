using LicBackdoor.Imaging;
using LicBackdoor.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Padding = LicBackdoor.Imaging.Padding; // TorchSharp.Padding (conv padding modes) has the same name

namespace LicBackdoor.Tests.Imaging;

public sealed class PaddingTests
{
    public PaddingTests() => NativeSetup.Initialize();

    [Theory]
    // height, width, multiple, left, right, top, bottom (worked by hand from compute_padding)
    [InlineData(512, 768, 64, 0, 0, 0, 0)]     // Kodak landscape
    [InlineData(768, 512, 64, 0, 0, 0, 0)]     // Kodak portrait
    [InlineData(37, 100, 64, 14, 14, 13, 14)]  // 100 -> 128 (28 = 14 + 14), 37 -> 64 (27 = 13 + 14)
    [InlineData(100, 37, 64, 13, 14, 14, 14)]
    [InlineData(1, 1, 64, 31, 32, 31, 32)]
    [InlineData(65, 64, 64, 0, 0, 31, 32)]     // 65 -> 128
    [InlineData(64, 127, 64, 0, 1, 0, 0)]      // 127 -> 128
    [InlineData(481, 321, 64, 31, 32, 15, 16)] // 321 -> 384 (63), 481 -> 512 (31)
    [InlineData(10, 11, 1, 0, 0, 0, 0)]
    [InlineData(10, 11, 4, 0, 1, 1, 1)]        // 11 -> 12, 10 -> 12
    public void Compute_matches_compressai_compute_padding(int height, int width, int multiple, int left, int right, int top, int bottom)
    {
        Assert.Equal(new PadSpec(left, right, top, bottom), Padding.Compute(height, width, multiple));
    }

    [Fact]
    public void Compute_defaults_to_64()
    {
        Assert.Equal(Padding.Compute(37, 100, 64), Padding.Compute(37, 100));
        Assert.True(Padding.Compute(128, 256).IsEmpty);
    }

    [Theory]
    [InlineData(0, 10, 64)]
    [InlineData(10, -1, 64)]
    [InlineData(10, 10, 0)]
    public void Compute_rejects_non_positive_arguments(int height, int width, int multiple)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Padding.Compute(height, width, multiple));
    }

    [Theory]
    [InlineData(37, 100)]
    [InlineData(64, 64)]
    [InlineData(70, 3)]
    public void Pad_then_Crop_is_identity_and_pads_with_zeros(int height, int width)
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.rand(2, 3, height, width) + 0.5; // strictly positive, so zeros can only be padding
        var p = Padding.Compute(height, width);

        var padded = Padding.Pad(x, p);
        Assert.Equal(0, padded.shape[2] % 64);
        Assert.Equal(0, padded.shape[3] % 64);
        Assert.Equal(new long[] { 2, 3, height + p.Top + p.Bottom, width + p.Left + p.Right }, padded.shape);
        long zeros = padded.eq(0).sum().item<long>();
        Assert.Equal(padded.numel() - x.numel(), zeros);
        // The original sits at (top, left).
        Assert.True(padded.narrow(2, p.Top, height).narrow(3, p.Left, width).equal(x).all().item<bool>());

        var cropped = Padding.Crop(padded, p);
        Assert.Equal(x.shape, cropped.shape);
        Assert.True(cropped.equal(x).all().item<bool>());
    }

    [Fact]
    public void Pad_and_Crop_work_on_3d_tensors()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.rand(3, 5, 9);
        var p = new PadSpec(1, 2, 3, 4);
        var padded = Padding.Pad(x, p);
        Assert.Equal(new long[] { 3, 12, 12 }, padded.shape);
        Assert.True(Padding.Crop(padded, p).equal(x).all().item<bool>());
    }

    [Fact]
    public void Crop_rejects_padding_larger_than_the_tensor()
    {
        using var x = torch.rand(1, 3, 8, 8);
        Assert.Throws<ArgumentException>(() => Padding.Crop(x, new PadSpec(4, 4, 0, 0)));
        Assert.Throws<ArgumentException>(() => Padding.Pad(x, new PadSpec(-1, 0, 0, 0)));
        using var flat = torch.rand(5);
        Assert.Throws<ArgumentException>(() => Padding.Pad(flat, new PadSpec(1, 1, 1, 1)));
    }
}
