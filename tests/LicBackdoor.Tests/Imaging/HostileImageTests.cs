using LicBackdoor.Codec;
using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;

namespace LicBackdoor.Tests.Imaging;

/// <summary>
/// Issue #8's image cases beyond ImageFileTests: huge declared sizes refused from the header (PNG and JPEG), the
/// configurable pixel cap, CMYK and 1-component JPEGs (built by hand), 1x1 and odd sizes through the whole codec.
/// </summary>
public sealed class HostileImageTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-img-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void A100000x100000PngHeaderIsRefusedBeforeDecoding()
    {
        var path = Path.Combine(dir, "huge.png");
        File.WriteAllBytes(path, TestImageFiles.PngHeaderOnly(100000, 100000));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ImageFormatException>(() => ImageFile.Load(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("100000x100000", e.Message, StringComparison.Ordinal);
        Assert.Contains("too large", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AHugeJpegHeaderIsRefusedBeforeDecoding()
    {
        // 30000 x 30000 (900 Mpixel) declared by the frame header, no scan data.
        var e = Assert.Throws<ImageFormatException>(() => ImageFile.DecodeImage(HandMadeJpeg.Flat(30000, 30000, [128, 128, 128], omitScan: true), "huge.jpg"));
        Assert.Contains("huge.jpg", e.Message, StringComparison.Ordinal);
        Assert.Contains("too large (30000x30000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ThePixelCapIsConfigurable()
    {
        var png = ImageFile.EncodePng(torch.rand(1, 3, 20, 30));
        Assert.Equal(20, ImageFile.DecodeImage(png, "a.png", maxPixels: 600).shape[2]);
        var e = Assert.Throws<ImageFormatException>(() => ImageFile.DecodeImage(png, "a.png", maxPixels: 599));
        Assert.Contains("the limit is 599 pixels", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFile.DecodeImage(png, "a.png", maxPixels: 0));
    }

    [Fact]
    public void ACmykJpegIsConvertedToRgb()
    {
        // Adobe CMYK is stored inverted: stored (255, 0, 255, 255) = C 0, M 100 %, Y 0, K 0: magenta.
        var path = Path.Combine(dir, "cmyk.jpg");
        File.WriteAllBytes(path, HandMadeJpeg.Flat(16, 8, [255, 0, 255, 255]));
        var x = ImageFile.Load(path);
        Assert.Equal(new long[] { 1, 3, 8, 16 }, x.shape);
        var mean = x.mean([0, 2, 3]).data<float>().ToArray();
        Assert.True(Math.Abs(mean[0] - 1) < 0.02 && mean[1] < 0.02 && Math.Abs(mean[2] - 1) < 0.02, $"got {string.Join(", ", mean)}");
        Assert.True((x.amax([2, 3]) - x.amin([2, 3])).max().item<float>() < 0.02f); // flat
    }

    [Fact]
    public void AGreyJpegReplicatesTheGreyLevel()
    {
        var x = ImageFile.DecodeImage(HandMadeJpeg.Flat(9, 7, [200]), "grey.jpg");
        Assert.Equal(new long[] { 1, 3, 7, 9 }, x.shape);
        Assert.True((x - 200f / 255).abs().max().item<float>() < 1.5f / 255);
    }

    [Fact]
    public void ATruncatedCmykJpegIsRefused()
    {
        var bytes = HandMadeJpeg.Flat(64, 64, [10, 20, 30, 40]);
        var e = Assert.Throws<ImageFormatException>(() => ImageFile.DecodeImage(bytes[..(bytes.Length / 2)], "cut.jpg"));
        Assert.Contains("cut.jpg", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 65)]
    [InlineData(17, 9)]
    [InlineData(63, 65)]
    public void OneByOneAndOddSizesRoundTripThroughTheCodec(int width, int height)
    {
        var path = Path.Combine(dir, $"{width}x{height}.png");
        File.WriteAllBytes(path, ImageFile.EncodePng(torch.rand(1, 3, height, width, generator: new torch.Generator(7))));
        var x = ImageFile.Load(path);
        Assert.Equal(new long[] { 1, 3, height, width }, x.shape);
        var codec = ModelStore.Open("bmshj2018-hyperprior", 1);
        var bytes = ImageCodec.Compress(codec, x).ToBytes();
        var y = ImageCodec.Decompress(codec, LicFile.Parse(bytes, "odd.lic"), "odd.lic");
        Assert.Equal(x.shape, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
    }
}
