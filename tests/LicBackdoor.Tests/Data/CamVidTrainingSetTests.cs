using LicBackdoor.Data;
using LicBackdoor.Tests.Downstream.Training;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Data;

public sealed class CamVidTrainingSetTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-camvidset-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void BatchesAreAugmentedDeterministicallyAndPaddedWithVoid()
    {
        TinyCamVid.Create(dir, width: 40, height: 24, train: 2, test: 1);
        using var set = new CamVidTrainingSet(CamVid.Open("train", dir));
        Assert.Equal(2, set.Count);
        Assert.Equal(2L * 40 * 24, set.Histogram.Sum());
        Assert.Equal(2L * 24, set.Histogram[CamVid.VoidClass]);   // one void column per image
        var aug = new SegmentationAugmentation(32, 32, 0.5, 1.0, 0.2);
        using var scope = NewDisposeScope();
        var (x1, y1) = set.NextBatch(4, aug, new SplitMix64(9));
        var (x2, y2) = set.NextBatch(4, aug, new SplitMix64(9));
        Assert.Equal(new long[] { 4, 3, 32, 32 }, x1.shape);
        Assert.Equal(new long[] { 4, 32, 32 }, y1.shape);
        Assert.Equal(ScalarType.Int64, y1.dtype);
        Assert.True(x1.equal(x2).all().item<bool>() && y1.equal(y2).all().item<bool>());
        Assert.InRange(x1.min().item<float>(), 0f, 1f);
        Assert.InRange(x1.max().item<float>(), 0f, 1f);
        // The scaled image (at most 24 high) is smaller than the 32-pixel crop: the rest is void.
        Assert.True(y1[.., 24..].eq(CamVid.VoidClass).all().item<bool>());
        Assert.True(y1.le(CamVid.VoidClass).all().item<bool>());
        Assert.Throws<ArgumentException>(() => new SegmentationAugmentation(32, 32, 1.0, 0.5, 0).Validate());
    }
}
