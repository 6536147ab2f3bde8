using LicBackdoor.Downstream;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Downstream;

public sealed class SegmentationNetTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-segnet-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void PreprocessingSizesAndNormalisation()
    {
        var published = SegmentationPreprocessing.Published();
        Assert.Equal((512L, 512L), published.InputSize(360, 480));
        var ours = SegmentationPreprocessing.Normalized(0.75, 8);
        Assert.Equal((272L, 360L), ours.InputSize(360, 480));   // 270 rounds to the nearest multiple of 8
        Assert.Equal((8L, 8L), ours.InputSize(3, 3));
        using var scope = NewDisposeScope();
        var v = full(1, 3, 2, 2, 123.675f);
        Assert.True(published.Normalize(v).equal(v).all().item<bool>());
        Assert.Equal(0f, ours.Normalize(v)[0, 0].abs().max().item<float>(), 5);
        Assert.Throws<ArgumentException>(() => (ours with { Scale = 0 }).Validated());
        Assert.Throws<ArgumentException>(() => (ours with { Width = 100 }).Validated());
        Assert.Throws<ArgumentException>(() => (ours with { Std = [1f, 0f, 1f] }).Validated());
    }

    [Fact]
    public void MetadataRoundTripsAndBadMetadataNamesTheFile()
    {
        foreach (var p in new[] { SegmentationPreprocessing.Published(), SegmentationPreprocessing.Normalized(0.6, 8) })
        {
            var meta = new Dictionary<string, string>();
            p.WriteMetadata(meta);
            var back = SegmentationPreprocessing.FromMetadata(meta, "x.safetensors")!;
            Assert.Equal(p.Width, back.Width);
            Assert.Equal(p.Scale, back.Scale);
            Assert.Equal(p.Mean, back.Mean);
            Assert.Equal(p.Std, back.Std);
        }
        Assert.Null(SegmentationPreprocessing.FromMetadata(new Dictionary<string, string>(), "x"));
        var bad = new Dictionary<string, string>();
        SegmentationPreprocessing.Normalized(1, 1).WriteMetadata(bad);
        bad["licb.input.std"] = "1,2";
        var e = Assert.Throws<CheckpointFormatException>(() => SegmentationPreprocessing.FromMetadata(bad, "bad.safetensors"));
        Assert.Contains("bad.safetensors", e.Message);
    }

    [Fact]
    public void FromFileRefusesUnknownArchitecturesAndWrongWeights()
    {
        using var net = new SegResNet(8);
        var path = Path.Combine(dir, "w.safetensors");
        net.Save(path, new Dictionary<string, string> { ["licb.model"] = "unet-camvid" });
        var e = Assert.Throws<CheckpointFormatException>(() => SegmentationNets.FromFile(path));
        Assert.Contains("unet-camvid", e.Message);
        net.Save(path, new Dictionary<string, string> { ["licb.model"] = ENet.ModelName });
        e = Assert.Throws<CheckpointFormatException>(() => SegmentationNets.FromFile(path));
        Assert.Contains(path, e.Message);
        Assert.Throws<FileNotFoundException>(() => SegmentationNets.FromFile(Path.Combine(dir, "missing.safetensors")));
    }

    [Fact]
    public void PublishedEnetFileKeepsThePublishedPreprocessing()
    {
        // A safetensors file without licb.input entries (as ENet.Save wrote before) means the published convention.
        using var net = new ENet();
        var path = Path.Combine(dir, "old.safetensors");
        Safetensors.Save(path, net.state_dict(), new Dictionary<string, string> { ["licb.model"] = ENet.ModelName });
        using var loaded = SegmentationNets.FromFile(path);
        Assert.Equal(SegmentationPreprocessing.Published(), loaded.Preprocessing);
        Assert.NotEqual(SegmentationPreprocessing.Normalized(1, 8), loaded.Preprocessing);
        Assert.Equal(512, Assert.IsType<ENet>(loaded).ProcessingSize);
    }
}
