using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Downstream;
using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;

namespace LicBackdoor.Tests.Codec.Zoo;

/// <summary>The project's own trained weights in models/ (copied beside every program) are the defaults and work.</summary>
public sealed class ShippedModelsTests : TorchTest
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.Exists(ModelStore.EmbeddedFolder) ? Directory.GetFiles(ModelStore.EmbeddedFolder, "*-mini-q*.safetensors") : Array.Empty<string>())
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [InlineData(ScaleHyperprior.Name)]
    [InlineData(Cheng2020Anchor.Name)]
    public void FourQualitiesOfEachArchitectureAreShipped(string model)
    {
        for (int q = 1; q <= 4; q++)
            Assert.NotNull(ModelStore.EmbeddedWeights(model, q));
    }

    [Fact]
    public void TheCodecZooStaysUnderFortyMegabytes()
    {
        long bytes = Directory.GetFiles(ModelStore.EmbeddedFolder, "*-mini-q*.safetensors").Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 40_000_000, $"models/*-mini-q*.safetensors: {bytes / 1e6:F2} MB");
    }

    [Fact]
    public void EveryShippedFileIsACodecOrASegmentationNet()
    {
        var codecs = Directory.GetFiles(ModelStore.EmbeddedFolder, "*-mini-q*.safetensors").Select(f => Path.GetFileName(f)).ToHashSet();
        foreach (var f in Directory.GetFiles(ModelStore.EmbeddedFolder, "*.safetensors").Select(Path.GetFileName))
            Assert.True(codecs.Contains(f!) || f is SegmentationNets.TrainedWeightsFile or SegmentationNets.TransferWeightsFile, $"models/{f}: neither a codec nor a segmentation net");
    }

    [Fact]
    public void EveryShippedFileIsListedInSha256SumsAndMatchesIt()
    {
        var sums = File.ReadAllLines(Path.Combine(ModelStore.EmbeddedFolder, Safetensors.SumsFileName))
            .Select(l => l.Split("  ", 2)).ToDictionary(p => p[1], p => p[0]);
        foreach (var f in Directory.GetFiles(ModelStore.EmbeddedFolder, "*.safetensors"))
        {
            Assert.True(sums.TryGetValue(Path.GetFileName(f), out var digest), $"models/{Path.GetFileName(f)} is not in models/{Safetensors.SumsFileName}");
            Assert.Equal(digest, FileDigest.Sha256Hex(f));
        }
    }

    [Fact]
    public void TheShippedSegmentationNetsAreTheDefaultsAndLoadWithTheirPreprocessing()
    {
        var main = SegmentationNets.DefaultWeights(TestPaths.Data);
        var transfer = SegmentationNets.DefaultTransferWeights();
        Assert.Equal(Path.Combine(ModelStore.EmbeddedFolder, SegmentationNets.TrainedWeightsFile), main);
        Assert.Equal(Path.Combine(ModelStore.EmbeddedFolder, SegmentationNets.TransferWeightsFile), transfer);
        using var enet = SegmentationNets.FromFile(main);
        using var resnet = SegmentationNets.FromFile(transfer!);
        Assert.Equal(ENet.ModelName, SegmentationNets.Architecture(main));
        Assert.Equal(SegResNet.ModelName, SegmentationNets.Architecture(transfer!));
        Assert.Equal(0.75, enet.Preprocessing.Scale);
        Assert.Equal(0.75, resnet.Preprocessing.Scale);
        using var x = TorchSharp.torch.rand(1, 3, 96, 128);
        using var labels = enet.Predict(x);
        Assert.Equal(new long[] { 1, 96, 128 }, labels.shape);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ShippedWeightsAreTheDefaultAndCodeWithinOnePercentOfTheirLikelihood(string file)
    {
        var meta = Safetensors.Load(Path.Combine(ModelStore.EmbeddedFolder, file)).Metadata;
        string model = meta[ModelStore.ModelKey];
        int quality = int.Parse(meta[ModelStore.QualityKey], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"{model}-mini-q{quality}.safetensors", file);
        var codec = ModelStore.Open(model, quality);
        Assert.EndsWith(file, codec.Source);
        // Issue #4's criterion is on Kodak means; the first six images (kodim01-06), not one, since a single image's gap
        // spreads more (cheng2020-anchor-mini on kodim23 alone: -1.8 to -2.6 %). The estimate is the likelihood of the
        // symbols the bitstream codes; for models without a context model it is the forward pass's (CompressAI's), for
        // cheng2020-anchor the forward pass gives the context model other symbols (round(y) instead of round(y - mu) + mu).
        var rs = Enumerable.Range(1, 6).Select(i => CodecEvaluation.EvaluateImage(codec, Path.Combine(TestPaths.Data, "kodak", $"kodim{i:00}.png"))).ToList();
        double real = rs.Average(r => r.Bpp), coded = rs.Average(r => r.CodedEstimatedBpp), forward = rs.Average(r => r.EstimatedBpp);
        Assert.True(Math.Abs(real - coded) / coded < 0.01, $"{file}: real {real:F4} vs likelihood {coded:F4} bpp (kodim01-06)");
        if (model == ScaleHyperprior.Name)
            Assert.True(Math.Abs(forward - coded) < 1e-4, $"{file}: forward {forward:F5} vs coded {coded:F5} bpp");
        double psnr = rs.Average(r => r.Psnr);
        Assert.True(psnr > 24, $"{file}: {psnr:F2} dB (kodim01-06)");
    }
}
