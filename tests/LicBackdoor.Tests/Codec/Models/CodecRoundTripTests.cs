using LicBackdoor.Codec;
using LicBackdoor.Codec.Models;
using LicBackdoor.Codec.Zoo;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Codec.Models;

public sealed class CodecRoundTripTests : TorchTest
{
    /// <summary>N=16, M=24 for the hyperprior; N=M=16 for cheng2020-anchor unless <paramref name="chengM"/> decouples M.</summary>
    private static CompressionModel Small(string name, int chengM = 16)
    {
        random.manual_seed(3);
        var m = ModelZoo.Build(name, 16, name == Cheng2020Anchor.Name ? chengM : 24);
        m.eval();
        m.Update(force: true);
        return m;
    }

    public static TheoryData<string, int, int, int> Cases => new()
    {
        { ScaleHyperprior.Name, 1, 64, 64 },
        { ScaleHyperprior.Name, 2, 64, 128 },
        { Cheng2020Anchor.Name, 1, 64, 64 },
        { Cheng2020Anchor.Name, 2, 128, 64 },
    };

    [Fact]
    public void CodedLikelihoodsOfTheHyperpriorAreTheForwardPasses()
    {
        var model = Small(ScaleHyperprior.Name);
        var x = SyntheticImages.Smooth(64, 128);
        model.train();
        var coded = model.CodedLikelihoods(x);
        Assert.True(model.training, "the model's mode must be restored");
        model.eval();
        using var _ = no_grad();
        var forward = model.forward(x).Likelihoods;
        foreach (var key in new[] { "y", "z" }) Assert.True(coded[key].equal(forward[key]).all().item<bool>(), key);
    }

    [Fact]
    public void CodedLikelihoodsOfChengUseTheCodersContext()
    {
        var model = (Cheng2020Anchor)Small(Cheng2020Anchor.Name);
        var x = SyntheticImages.Smooth(64, 128);
        var coded = model.CodedLikelihoods(x);
        using var _ = no_grad();
        var forward = model.forward(x).Likelihoods;
        Assert.True(coded["z"].equal(forward["z"]).all().item<bool>(), "z is coded as in the forward pass");
        // The context model sees round(y - mu) + mu when coding and round(y) in the forward pass.
        var (_, yHat) = model.CompressLatents(x);
        var y = model.Analysis.forward(x);
        Assert.False(yHat.equal(y.round()).all().item<bool>(), "the synthetic image should give latents where the two quantisations differ");
        Assert.False(coded["y"].equal(forward["y"]).all().item<bool>());
        double codedBits = -log2(coded["y"]).sum().item<float>(), forwardBits = -log2(forward["y"]).sum().item<float>();
        Assert.True(double.IsFinite(codedBits) && codedBits > 0, $"coded bits {codedBits}");
        Assert.InRange(codedBits / forwardBits, 0.5, 2.0);
    }

    [Theory]
    [InlineData("bmshj2018-hyperprior")]
    [InlineData("cheng2020-anchor")]
    public void TheStraightThroughForwardIsTheEvalForwardWithGradients(string name)
    {
        var model = Small(name);
        model.train();   // the entropy models round whatever the module's mode
        var x = SyntheticImages.Smooth(64, 64).requires_grad_(true);
        var st = model.ForwardStraightThrough(x);
        model.eval();
        CodecOutput plain;
        using (no_grad()) plain = model.forward(x);
        Assert.True(st.XHat.equal(plain.XHat).all().item<bool>(), "reconstruction");
        foreach (var key in new[] { "y", "z" }) Assert.True(st.Likelihoods[key].equal(plain.Likelihoods[key]).all().item<bool>(), key);
        // The rate of the rounded latents reaches the input (rounding alone would give no gradient at all).
        var bits = -log2(st.Likelihoods["y"]).sum() - log2(st.Likelihoods["z"]).sum();
        bits.backward();
        var g = x.grad!;
        Assert.True(g.isfinite().all().item<bool>() && g.abs().sum().item<float>() > 0, "gradient of the rounded rate");
        x.grad!.zero_();
        var rounded = model.Analysis.forward(x).round().square().sum();
        rounded.backward();
        Assert.Equal(0, x.grad!.abs().sum().item<float>());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecoderReproducesTheEncodersLatentsAndImage(string name, int batch, int h, int w)
    {
        var model = Small(name);
        using var _ = no_grad();
        var x = SyntheticImages.Smooth(h, w, batch);
        var (latents, yHatEnc) = model.CompressLatents(x);
        Assert.Equal(batch, latents.YStrings.Count);
        Assert.All(latents.YStrings.Concat(latents.ZStrings), s => Assert.True(s.Length >= 8 && s.Length % 4 == 0));
        Assert.Equal((h / 64, w / 64), (latents.ZHeight, latents.ZWidth));
        var yHatDec = model.DecodeLatents(latents);
        Assert.True(yHatEnc.equal(yHatDec).all().item<bool>(), "decoded latents differ from the encoder's");
        var xHat = model.Decompress(latents);
        Assert.Equal(x.shape, xHat.shape);
        // Decompress runs g_s on CodecThreads.Count threads; on the same count the floats are the same.
        Assert.True(xHat.equal(CodecThreads.Run(() => model.Synthesize(yHatEnc).clamp(0, 1))).all().item<bool>());
    }

    [Fact]
    public void ChengWithADecoupledMCodesAndDecodesItsLatentsExactly()
    {
        var model = (Cheng2020Anchor)Small(Cheng2020Anchor.Name, chengM: 24);
        Assert.Equal(24, model.M);
        using var _ = no_grad();
        var x = SyntheticImages.Smooth(64, 128, batch: 2);
        var (latents, yHatEnc) = model.CompressLatents(x);
        Assert.Equal(new long[] { 2, 24, 4, 8 }, yHatEnc.shape);
        Assert.True(yHatEnc.equal(model.DecodeLatents(latents)).all().item<bool>(), "decoded latents differ from the encoder's");
    }

    [Fact]
    public void HyperpriorLatentsAreEvalRounding()
    {
        var model = (ScaleHyperprior)Small(ScaleHyperprior.Name);
        using var _ = no_grad();
        var x = SyntheticImages.Smooth(64, 128);
        var yHat = model.DecodeLatents(model.Compress(x));
        Assert.True(yHat.equal(torch.round(model.Analysis.forward(x))).all().item<bool>());
    }

    [Fact]
    public void ChengLatentsAreEvalQuantisationWithTheContextMeans()
    {
        var model = (Cheng2020Anchor)Small(Cheng2020Anchor.Name);
        using var _ = no_grad();
        var x = SyntheticImages.Smooth(128, 128);
        var yHat = model.DecodeLatents(model.Compress(x));
        // ŷ is the fixed point of ŷ = round(y - μ(ŷ)) + μ(ŷ), with μ from the torch forward path.
        var y = model.Analysis.forward(x);
        var z = model.HyperAnalysis.forward(y);
        var zHat = torch.round(z - model.EntropyBottleneck.Medians().reshape(1, -1, 1, 1)) + model.EntropyBottleneck.Medians().reshape(1, -1, 1, 1);
        var gp = model.EntropyParameters.forward(torch.cat(new[] { model.HyperSynthesis.forward(zHat), model.ContextPrediction.forward(yHat) }, 1));
        var means = gp.chunk(2, 1)[1];
        var expected = torch.round(y - means) + means;
        var close = (expected - yHat).abs().lt(1e-4).to_type(ScalarType.Float32).mean().item<float>();
        Assert.True(close > 0.999f, $"only {close:P3} of the latents match eval quantisation");
    }

    [Theory]
    [InlineData(ScaleHyperprior.Name)]
    [InlineData(Cheng2020Anchor.Name)]
    public void CompressionIsDeterministicAcrossRunsAndThreadCounts(string name)
    {
        var model = Small(name);
        var x = SyntheticImages.Smooth(64, 128);
        int threads = get_num_threads();
        try
        {
            set_num_threads(1);
            var a = model.Compress(x);
            set_num_threads(2);
            var b = model.Compress(x);
            var c = model.Compress(x);
            Assert.Equal(a.YStrings[0], b.YStrings[0]);
            Assert.Equal(a.ZStrings[0], b.ZStrings[0]);
            Assert.Equal(b.YStrings[0], c.YStrings[0]);
        }
        finally { set_num_threads(threads); }
    }

    [Fact]
    public void CodingPathsRunOnTheFixedThreadCountAndRestoreTheProcessCount()
    {
        int threads = get_num_threads();
        try
        {
            int other = CodecThreads.Count == 1 ? 2 : 1;
            set_num_threads(other);
            Assert.Equal(CodecThreads.Count, CodecThreads.Run(get_num_threads));
            Assert.Equal(other, get_num_threads());
            Assert.Throws<InvalidOperationException>(() => CodecThreads.Run<int>(() => throw new InvalidOperationException()));
            Assert.Equal(other, get_num_threads());
            Assert.Throws<ArgumentOutOfRangeException>(() => CodecThreads.Count = 0);
            Assert.Equal(CodecThreads.DefaultCount, CodecThreads.Count);
        }
        finally { set_num_threads(threads); }
    }

    [Fact]
    public void DecodedPixelsDoNotDependOnTheProcessThreadCount()
    {
        var model = Small(ScaleHyperprior.Name);
        var x = SyntheticImages.Smooth(64, 128);
        int threads = get_num_threads();
        try
        {
            set_num_threads(2);
            var latents = model.Compress(x);
            var two = model.Decompress(latents);
            set_num_threads(1);
            var one = model.Decompress(latents);
            Assert.True(one.equal(two).all().item<bool>());
        }
        finally { set_num_threads(threads); }
    }

    [Theory]
    [InlineData(ScaleHyperprior.Name, 100, 37)]
    [InlineData(Cheng2020Anchor.Name, 70, 130)]
    public void SizesThatAreNotMultiplesOf64RoundTrip(string name, int h, int w)
    {
        var codec = new LoadedCodec(Small(name), 3, "test");
        var x = SyntheticImages.Smooth(h, w);
        var file = ImageCodec.Compress(codec, x);
        Assert.Equal((h, w), (file.Height, file.Width));
        var xHat = ImageCodec.Decompress(codec, LicBackdoor.Codec.Bitstream.LicFile.Parse(file.ToBytes()));
        Assert.Equal(x.shape, xHat.shape);
        // same as decoding the padded image and cropping it by hand
        var pad = LicBackdoor.Imaging.Padding.Compute(h, w);
        var full = codec.Model.Decompress(codec.Model.Compress(LicBackdoor.Imaging.Padding.Pad(x, pad)));
        Assert.True(LicBackdoor.Imaging.Padding.Crop(full, pad).equal(xHat).all().item<bool>());
    }

    [Fact]
    public void DecodingWithOtherWeightsIsRefused()
    {
        var a = new LoadedCodec(Small(ScaleHyperprior.Name), 3, "a");
        random.manual_seed(99);
        var other = ModelZoo.Build(ScaleHyperprior.Name, 16, 24);
        other.eval(); other.Update(force: true);
        var b = new LoadedCodec(other, 3, "b");
        var file = ImageCodec.Compress(a, SyntheticImages.Smooth(64, 64));
        var e = Assert.Throws<LicBackdoor.Codec.Bitstream.InvalidBitstreamException>(() => ImageCodec.Decompress(b, file, "x.lic"));
        Assert.Contains("other weights", e.Message);
    }

    [Fact]
    public void CompressWithoutTablesSaysRunUpdate()
    {
        random.manual_seed(1);
        var m = new ScaleHyperprior(8, 12);
        m.eval();
        var e = Assert.Throws<InvalidOperationException>(() => m.Compress(SyntheticImages.Smooth(64, 64)));
        Assert.Contains("Update()", e.Message);
        Assert.Throws<ArgumentException>(() => m.Compress(SyntheticImages.Smooth(60, 64)));
    }

    [Fact]
    public void UpdateReturnsFalseWhenTablesExistUnlessForced()
    {
        var m = Small(ScaleHyperprior.Name);
        Assert.False(m.Update());
        Assert.True(m.Update(force: true));
    }
}

public sealed class CorruptStringTests : TorchTest
{
    [Theory]
    [InlineData(ScaleHyperprior.Name)]
    [InlineData(Cheng2020Anchor.Name)]
    public void ChangedStringsAreRefusedOrDecodeWithoutCrashing(string name)
    {
        random.manual_seed(5);
        var model = ModelZoo.Build(name, 16, 24);
        model.eval(); model.Update(force: true);
        var x = SyntheticImages.Smooth(64, 128);
        var good = model.Compress(x);
        int refused = 0, trials = 0;
        var rng = new Random(11);
        foreach (var which in new[] { 0, 1 })
            for (int t = 0; t < 12; t++)
            {
                var y = (byte[])good.YStrings[0].Clone();
                var z = (byte[])good.ZStrings[0].Clone();
                var s = which == 0 ? y : z;
                if (t % 3 == 0) s = s[..^4];                       // truncated by one word
                else if (t % 3 == 1) s = s.Concat(new byte[4]).ToArray(); // trailing word
                else s[rng.Next(s.Length)] ^= (byte)(1 << rng.Next(8));
                var bad = which == 0 ? good with { YStrings = new[] { s } } : good with { ZStrings = new[] { s } };
                trials++;
                try { model.Decompress(bad).Dispose(); }
                catch (LicBackdoor.Codec.Bitstream.InvalidBitstreamException) { refused++; }
            }
        // truncation and trailing words are always detected; bit flips usually are (rANS has no check; the .lic checksum covers the rest)
        Assert.True(refused >= trials * 2 / 3, $"{refused}/{trials} refused");
    }
}
