using LicBackdoor.Imaging;
using LicBackdoor.Tests.Cli;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Imaging;

public sealed class CentreCropsTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-crop-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    /// <summary>An 8-bit image whose every pixel value encodes its position, so a wrong window cannot pass.</summary>
    private static Tensor Positional(int h, int w)
    {
        var rows = arange(h, ScalarType.Float32).view(1, 1, h, 1).expand(1, 1, h, w);
        var cols = arange(w, ScalarType.Float32).view(1, 1, 1, w).expand(1, 1, h, w);
        return cat(new[] { rows, cols, (rows + cols) % 7 }, 1) / 255f;
    }

    [Fact]
    public void CropTakesTheCentredWindowWithTheOddRemainderBottomRight()
    {
        var x = Positional(9, 12);
        var c = CentreCrops.Crop(x, 4);
        Assert.Equal(new long[] { 1, 3, 4, 4 }, c.shape);
        // (9 − 4) / 2 = 2 rows above, 3 below; (12 − 4) / 2 = 4 columns on each side.
        Assert.Equal(2f / 255f, c[0, 0, 0, 0].item<float>(), 6);
        Assert.Equal(5f / 255f, c[0, 0, 3, 0].item<float>(), 6);
        Assert.Equal(4f / 255f, c[0, 1, 0, 0].item<float>(), 6);
        Assert.Equal(7f / 255f, c[0, 1, 0, 3].item<float>(), 6);
        Assert.True(CentreCrops.Crop(x, 9).shape[2] == 9);
        Assert.Throws<ArgumentException>(() => CentreCrops.Crop(x, 10));
    }

    [Fact]
    public void CliWritesOnePngPerImageWithTheCropPixels()
    {
        var input = Directory.CreateDirectory(Path.Combine(dir, "in")).FullName;
        var a = Positional(40, 70);
        ImageFile.SavePng(a, Path.Combine(input, "a.png"));
        ImageFile.SavePng(Positional(64, 32), Path.Combine(input, "b.png"));
        var output = Path.Combine(dir, "out");
        var r = CliRunner.Run("crop", input, output, "--size", "32");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("2 centre crops of 32x32", r.Out);
        Assert.Equal(new[] { "a.png", "b.png" }, Directory.GetFiles(output).Select(Path.GetFileName).Order().ToArray());
        var back = ImageFile.Load(Path.Combine(output, "a.png"));
        Assert.Equal(0.0, (back - CentreCrops.Crop(a, 32)).abs().max().item<float>(), 6);
    }

    [Fact]
    public void AnImageSmallerThanTheCropIsNamedAndNothingIsWritten()
    {
        var input = Directory.CreateDirectory(Path.Combine(dir, "in")).FullName;
        ImageFile.SavePng(Positional(64, 64), Path.Combine(input, "big.png"));
        ImageFile.SavePng(Positional(20, 64), Path.Combine(input, "small.png"));
        var output = Path.Combine(dir, "out");
        var r = CliRunner.Run("crop", input, output, "--size", "32");
        Assert.Equal(1, r.Code);
        Assert.Contains("small.png", r.Err);
        Assert.Contains("64x20", r.Err);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ACorruptImageIsNamed()
    {
        var input = Directory.CreateDirectory(Path.Combine(dir, "in")).FullName;
        File.WriteAllBytes(Path.Combine(input, "bad.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var r = CliRunner.Run("crop", input, Path.Combine(dir, "out"), "--size", "8");
        Assert.Equal(1, r.Code);
        Assert.Contains("bad.png", r.Err);
    }
}
