using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Training;

public sealed class WideningTests : TorchTest
{
    /// <summary>A small model with every parameter moved off its initialisation (GDN's γ gets off-diagonal weight too).</summary>
    private static CompressionModel Trained(string name, int n, int m, int seed)
    {
        random.manual_seed(seed);
        var model = ModelZoo.Build(name, n, m);
        using (no_grad())
            foreach (var (key, p) in model.named_parameters())
                if (!key.EndsWith("quantiles", StringComparison.Ordinal)) p.add_(randn_like(p) * 0.02);
        model.Update(force: true);
        model.eval();
        return model;
    }

    [Theory]
    [InlineData("bmshj2018-hyperprior")]
    [InlineData("cheng2020-anchor")]
    public void TheWideModelDecodesAsTheNarrowOne(string name)
    {
        using var scope = NewDisposeScope();
        using var narrow = Trained(name, 8, 12, seed: 3);
        random.manual_seed(4);
        using var wide = ModelZoo.Build(name, 16, 12);
        Widening.Widen(narrow, wide, "narrow.safetensors");
        wide.eval();
        var x = SyntheticImages.Smooth(64, 64, seed: 2);
        using var _ = no_grad();
        var a = narrow.forward(x);
        var b = wide.forward(x);
        Assert.True(a.XHat.allclose(b.XHat, rtol: 1e-4, atol: 1e-5), $"x̂ max |Δ| {(a.XHat - b.XHat).abs().max().item<float>()}");
        Assert.True(a.Likelihoods["y"].allclose(b.Likelihoods["y"], rtol: 1e-4, atol: 1e-6));
        Assert.Equal(16, b.Likelihoods["z"].shape[1]);
        Assert.True(a.Likelihoods["z"].allclose(b.Likelihoods["z"][.., ..8], rtol: 1e-4, atol: 1e-6));
        // the new hyper-latent channels are a constant at the narrowest density's median, coded with a copy of that density
        var q = narrow.EntropyBottleneck.Quantiles.detach();
        long template = (q[.., 0, 2] - q[.., 0, 0]).argmin().item<long>();
        var (_, atMedian) = narrow.EntropyBottleneck.Forward(narrow.EntropyBottleneck.Medians().reshape(1, -1, 1, 1), training: false);
        var newZ = b.Likelihoods["z"][.., 8..];
        Assert.True((newZ - atMedian[0, template]).abs().max().item<float>() < 1e-6, "new hyper-latent channels do not cost the template's median");
        // the new channels compute something (their incoming weights stay random), the old outputs ignore it
        var first = wide.state_dict().First(kv => kv.Key.StartsWith("g_a.0.", StringComparison.Ordinal) && kv.Key.EndsWith("weight", StringComparison.Ordinal)).Value;
        Assert.True(first[8..].abs().sum().item<float>() > 0);
        // and the widened model codes real bitstreams that decode to its own reconstruction
        var decoded = wide.Decompress(wide.Compress(x));
        var viaNarrow = narrow.Decompress(narrow.Compress(x));
        Assert.True((decoded - viaNarrow).abs().max().item<float>() < 1e-4, $"decoded max |Δ| {(decoded - viaNarrow).abs().max().item<float>()}");
    }

    [Fact]
    public void WideningRefusesOtherLatentWidthsNarrowerTargetsAndOtherArchitectures()
    {
        using var scope = NewDisposeScope();
        using var narrow = Trained("bmshj2018-hyperprior", 8, 12, seed: 3);
        using var otherM = ModelZoo.Build("bmshj2018-hyperprior", 16, 16);
        Assert.Contains("only N can be widened", Assert.Throws<ArgumentException>(() => Widening.Widen(narrow, otherM, "f.safetensors")).Message);
        using var smaller = ModelZoo.Build("bmshj2018-hyperprior", 4, 12);
        var e = Assert.Throws<ArgumentException>(() => Widening.Widen(narrow, smaller, "f.safetensors"));
        Assert.Contains("f.safetensors", e.Message);
        using var cheng = ModelZoo.Build("cheng2020-anchor", 16, 12);
        Assert.Contains("cannot widen", Assert.Throws<ArgumentException>(() => Widening.Widen(narrow, cheng, "f.safetensors")).Message);
    }

    [Fact]
    public void TrainingFromWidenedWeightsStartsWhereTheNarrowModelStands()
    {
        var dir = Directory.CreateTempSubdirectory("licb-widen-").FullName;
        try
        {
            var images = Path.Combine(dir, "images");
            Directory.CreateDirectory(images);
            for (int i = 0; i < 6; i++) ImageFile.SavePng(SyntheticImages.Smooth(96, 112, seed: i), Path.Combine(images, $"{i}.png"));
            var options = new TrainOptions
            {
                Model = ScaleHyperprior.Name, N = 8, M = 12, Lambda = 0.01, DataFolders = [images], Steps = 30, Batch = 2, Crop = 64,
                LearningRate = 1e-3, ValidateEvery = 30, CheckpointEvery = 30, ValidationImages = 2, Seed = 5,
            };
            double narrowLoss;
            using (var t = Trainer.Start(options, Path.Combine(dir, "narrow"))) { t.Run(); narrowLoss = t.ValidationLoss(); }
            var narrowWeights = Path.Combine(dir, "narrow", Trainer.ModelFile);

            var wide = options with { N = 16, Steps = 1, Init = narrowWeights, WidenInit = true };
            using (var t = Trainer.Start(wide, Path.Combine(dir, "wide")))
            {
                double start = t.ValidationLoss();
                Assert.True(Math.Abs(start - narrowLoss) < 0.25 * narrowLoss, $"widened start {start:F3} against the narrow model's {narrowLoss:F3}");
                using var fresh = Trainer.Start(wide with { Init = null, WidenInit = false }, Path.Combine(dir, "fresh"));
                Assert.True(start < fresh.ValidationLoss(), "the widened start is no better than a fresh model");
            }
            // without --widen the narrow file does not fit, and the error names it
            var e = Assert.Throws<CheckpointFormatException>(() => Trainer.Start(wide with { WidenInit = false }, Path.Combine(dir, "plain")));
            Assert.Contains("model.safetensors", e.Message);
            Assert.Throws<ArgumentException>(() => Trainer.Start(wide with { Init = null }, Path.Combine(dir, "noinit")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
