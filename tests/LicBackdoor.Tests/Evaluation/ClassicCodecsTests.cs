using LicBackdoor.Evaluation;
using LicBackdoor.Imaging;
using SkiaSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Evaluation;

public sealed class ClassicCodecsTests : TorchTest
{
    [Theory]
    [InlineData(ClassicCodec.Jpeg)]
    [InlineData(ClassicCodec.Webp)]
    public void HigherQualityCostsMoreBitsAndGivesHigherPsnr(ClassicCodec codec)
    {
        using var scope = NewDisposeScope();
        var x = SyntheticImages.Smooth(96, 128, seed: 3);
        double lastBpp = 0, lastPsnr = 0;
        foreach (int q in new[] { 5, 30, 70, 95 })
        {
            var coded = ClassicCodecs.Code(codec, x, q);
            Assert.Equal(new long[] { 1, 3, 96, 128 }, coded.Decoded.shape);
            Assert.Equal(coded.Bytes.Length * 8.0 / (96 * 128), coded.Bpp, 12);
            double psnr = Metrics.Psnr(x, coded.Decoded);
            Assert.True(coded.Bpp > lastBpp, $"{codec} q{q}: {coded.Bpp} bpp is not above {lastBpp}");
            Assert.True(psnr > lastPsnr, $"{codec} q{q}: {psnr} dB is not above {lastPsnr}");
            (lastBpp, lastPsnr) = (coded.Bpp, psnr);
            // the decoded image is 8-bit
            var levels = coded.Decoded * 255;
            Assert.True((levels - levels.round()).abs().max().item<float>() < 1e-4f);
        }
        Assert.True(lastPsnr > 35, $"{codec} q95 gives only {lastPsnr} dB");
    }

    [Fact]
    public void FilesArePlainJfifAndSimpleWebpWithoutColourProfile()
    {
        using var scope = NewDisposeScope();
        var x = SyntheticImages.Smooth(64, 64);
        var jpeg = ClassicCodecs.Encode(ClassicCodec.Jpeg, x, 50);
        Assert.Equal(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }, jpeg[..4]);          // SOI then JFIF APP0
        Assert.DoesNotContain(Markers(jpeg), m => m == 0xE2);                    // no APP2 (ICC profile)
        var webp = ClassicCodecs.Encode(ClassicCodec.Webp, x, 50);
        Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(webp, 0, 4));
        Assert.Equal("WEBPVP8 ", System.Text.Encoding.ASCII.GetString(webp, 8, 8)); // lossy, simple format (no VP8X/ICCP)
    }

    [Fact]
    public void JpegUses420ChromaSubsamplingByDefault()
    {
        using var scope = NewDisposeScope();
        var x = SyntheticImages.Smooth(64, 64);
        foreach (int q in new[] { 10, 50, 95 })
            Assert.Equal(new[] { (2, 2), (1, 1), (1, 1) }, SamplingFactors(ClassicCodecs.Encode(ClassicCodec.Jpeg, x, q)));
        Assert.Equal(new[] { (1, 1), (1, 1), (1, 1) }, SamplingFactors(ClassicCodecs.EncodeJpeg(x, 50, SKJpegEncoderDownsample.Downsample444)));
    }

    [Fact]
    public void InputIsRoundedToTheNearestEightBitLevel()
    {
        using var scope = NewDisposeScope();
        var x = (SyntheticImages.Smooth(48, 64) * 255).round() / 255;
        var nudged = x + (rand_like(x) - 0.5) * (0.9 / 255); // stays within half a level of x
        foreach (var codec in new[] { ClassicCodec.Jpeg, ClassicCodec.Webp })
            Assert.Equal(ClassicCodecs.Encode(codec, x, 60), ClassicCodecs.Encode(codec, nudged, 60));
        var best = ClassicCodecs.Decode(ClassicCodecs.EncodeJpeg(x, 100, SKJpegEncoderDownsample.Downsample444));
        Assert.True(Metrics.Psnr(x, best) > 45, $"JPEG q100 4:4:4 gives {Metrics.Psnr(x, best)} dB");
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        using var scope = NewDisposeScope();
        var x = SyntheticImages.Smooth(16, 16);
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassicCodecs.Encode(ClassicCodec.Jpeg, x, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassicCodecs.Encode(ClassicCodec.Jpeg, x, 101));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassicCodecs.Encode(ClassicCodec.Webp, x, -1));
        ClassicCodecs.Encode(ClassicCodec.Webp, x, 0); // libwebp's range starts at 0
        Assert.Throws<ArgumentException>(() => ClassicCodecs.Encode(ClassicCodec.Jpeg, zeros(1, 1, 16, 16), 50));
        Assert.Throws<ArgumentException>(() => ClassicCodecs.Encode(ClassicCodec.Jpeg, zeros(new long[] { 1, 3, 16, 16 }, ScalarType.Int32), 50));
    }

    /// <summary>The marker codes of a JPEG's header segments up to the start of scan.</summary>
    private static List<int> Markers(byte[] jpeg)
    {
        var markers = new List<int>();
        for (int i = 2; i + 3 < jpeg.Length;)
        {
            Assert.Equal(0xFF, jpeg[i]);
            int marker = jpeg[i + 1];
            markers.Add(marker);
            if (marker == 0xDA) break;
            i += 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
        }
        return markers;
    }

    /// <summary>(horizontal, vertical) sampling factors of each component from the SOF0 segment.</summary>
    private static (int, int)[] SamplingFactors(byte[] jpeg)
    {
        for (int i = 2; i + 3 < jpeg.Length;)
        {
            int marker = jpeg[i + 1], length = (jpeg[i + 2] << 8) | jpeg[i + 3];
            if (marker == 0xC0)
            {
                int components = jpeg[i + 9];
                return Enumerable.Range(0, components).Select(c => (jpeg[i + 11 + 3 * c] >> 4, jpeg[i + 11 + 3 * c] & 15)).ToArray();
            }
            i += 2 + length;
        }
        throw new InvalidOperationException("no SOF0 segment");
    }
}
