using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Training;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
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
}
