using LicBackdoor.Data;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Data;

public sealed class ImageFolderCropsTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-crops-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private ImageFolderCrops Crops(int crop = 32)
    {
        for (int i = 0; i < 4; i++) ImageFile.SavePng(SyntheticImages.Smooth(80, 96, seed: i), Path.Combine(dir, $"{i}.png"));
        return new ImageFolderCrops(new[] { dir }, crop, validationImages: 1);
    }

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void NoAugmentationDrawsTheSameBatchesAsPlainCrops()
    {
        using var crops = Crops();
        var a = crops.NextBatch(3, new SplitMix64(7));
        var b = crops.NextBatch(3, new SplitMix64(7), CropAugmentation.None);
        Assert.Equal(Values(a), Values(b));
    }

    [Fact]
    public void AugmentedCropsAreDeterministicEightBitAndDifferFromPlainOnes()
    {
        using var crops = Crops();
        var aug = new CropAugmentation(MinScale: 0.4, Rotate: true);
        var a = crops.NextBatch(6, new SplitMix64(3), aug);
        var b = crops.NextBatch(6, new SplitMix64(3), aug);
        Assert.Equal(new long[] { 6, 3, 32, 32 }, a.shape);
        Assert.Equal(Values(a), Values(b));
        var v = Values(a);
        Assert.All(v, x => Assert.InRange(x, 0f, 1f));
        Assert.All(v, x => Assert.True(Math.Abs(x * 255 - Math.Round(x * 255)) < 1e-3, $"{x} is not a multiple of 1/255"));
        Assert.NotEqual(Values(crops.NextBatch(6, new SplitMix64(3))), v);
    }

    [Fact]
    public void DownscaledCropsAreSmootherThanPlainOnes()
    {
        // A checkerboard of period 2: a crop at scale 1 keeps it; area-averaging a larger square to the crop size blurs it towards grey.
        var board = (arange(80).view(80, 1) + arange(96).view(1, 96)).remainder(2).to_type(ScalarType.Float32);
        ImageFile.SavePng(board.expand(3, 80, 96).unsqueeze(0), Path.Combine(dir, "board.png"));
        using var crops = new ImageFolderCrops(new[] { dir }, 32, validationImages: 0);
        var plain = crops.NextBatch(8, new SplitMix64(1));
        var down = crops.NextBatch(8, new SplitMix64(1), new CropAugmentation(MinScale: 0.4));
        double Contrast(Tensor t) => (t - 0.5).abs().mean().item<float>();
        Assert.Equal(0.5, Contrast(plain), 3);
        Assert.True(Contrast(down) < 0.4, $"downscaled contrast {Contrast(down):F3}");
    }

    [Fact]
    public void ScaleOutsideTheUnitIntervalIsRefused()
    {
        Assert.Throws<ArgumentException>(() => new CropAugmentation(MinScale: 0).Validate());
        Assert.Throws<ArgumentException>(() => new CropAugmentation(MinScale: 1.5).Validate());
        new CropAugmentation(MinScale: 1).Validate();
    }
}
