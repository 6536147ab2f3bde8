using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Imaging;

public sealed class RawPngTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-rawpng-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void GreyAndRgbBuffersRoundTrip()
    {
        int w = 7, h = 5;
        var grey = Enumerable.Range(0, w * h).Select(i => (byte)(i * 37 % 256)).ToArray();
        var rgb = Enumerable.Range(0, w * h * 3).Select(i => (byte)(i * 11 % 256)).ToArray();
        string g = Path.Combine(dir, "g.png"), c = Path.Combine(dir, "c.png");
        ImageFile.SaveGrayPng(grey, w, h, g);
        ImageFile.SaveRgbPng(rgb, w, h, c);
        Assert.Equal(0, File.ReadAllBytes(g)[25]); // PNG colour type 0: grey
        Assert.Equal(2, File.ReadAllBytes(c)[25]); // 2: RGB
        using var scope = NewDisposeScope();
        var gl = ImageFile.Load(g).mul(255).round().to_type(ScalarType.Byte);
        Assert.Equal(grey, gl[0, 0].contiguous().bytes.ToArray());
        Assert.Equal(grey, gl[0, 2].contiguous().bytes.ToArray());
        var cl = ImageFile.Load(c)[0].mul(255).round().to_type(ScalarType.Byte).permute(1, 2, 0).contiguous();
        Assert.Equal(rgb, cl.bytes.ToArray());
    }

    [Fact]
    public void WrongSizesAreRefusedAndNothingIsWritten()
    {
        var path = Path.Combine(dir, "x.png");
        Assert.Throws<ArgumentException>(() => ImageFile.SaveGrayPng(new byte[10], 4, 3, path));
        Assert.Throws<ArgumentException>(() => ImageFile.SaveRgbPng(new byte[13], 4, 1, path));
        Assert.Throws<ArgumentException>(() => ImageFile.SaveGrayPng([], 0, 0, path));
        Assert.Throws<DirectoryNotFoundException>(() => ImageFile.SaveGrayPng(new byte[4], 2, 2, Path.Combine(dir, "no", "x.png")));
        Assert.Empty(Directory.GetFiles(dir));
    }
}
