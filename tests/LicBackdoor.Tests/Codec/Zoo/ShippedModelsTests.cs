using LicBackdoor.Codec.Zoo;
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
        foreach (var f in Directory.Exists(ModelStore.EmbeddedFolder) ? Directory.GetFiles(ModelStore.EmbeddedFolder, "*.safetensors") : Array.Empty<string>())
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Fact]
    public void TheHyperpriorMiniZooIsShipped()
    {
        for (int q = 1; q <= 4; q++)
            Assert.NotNull(ModelStore.EmbeddedWeights("bmshj2018-hyperprior", q));
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
        var r = CodecEvaluation.EvaluateImage(codec, Path.Combine(TestPaths.Data, "kodak", "kodim23.png"));
        Assert.True(Math.Abs(r.Bpp - r.EstimatedBpp) / r.EstimatedBpp < 0.01, $"{file}: real {r.Bpp:F4} vs likelihood {r.EstimatedBpp:F4} bpp");
        Assert.True(r.Psnr > 24, $"{file}: {r.Psnr:F2} dB");
    }
}
