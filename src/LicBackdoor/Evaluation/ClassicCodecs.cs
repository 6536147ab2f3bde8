using LicBackdoor.Imaging;
using SkiaSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Evaluation;

/// <summary>The classic image codecs used as rate-distortion anchors.</summary>
public enum ClassicCodec
{
    /// <summary>Baseline JPEG (libjpeg-turbo inside Skia), 4:2:0 chroma subsampling.</summary>
    Jpeg,

    /// <summary>Lossy WebP (libwebp's VP8 inside Skia), always 4:2:0.</summary>
    Webp,
}

/// <summary>One image coded by a classic codec: the encoded file and its decoded 8-bit reconstruction.</summary>
/// <param name="Codec">The codec.</param>
/// <param name="Quality">The encoder's quality setting.</param>
/// <param name="Bytes">The complete encoded file (what its size on disk would be).</param>
/// <param name="Decoded">The decoded image <c>[1, 3, H, W]</c>, values <c>v / 255</c>; the caller owns (disposes) it.</param>
public sealed record ClassicCoding(ClassicCodec Codec, int Quality, byte[] Bytes, Tensor Decoded)
{
    /// <summary>Bits per pixel of the whole file: <c>8 · bytes / (H · W)</c>.</summary>
    public double Bpp => Bytes.Length * 8.0 / ((double)Decoded.shape[2] * Decoded.shape[3]);
}

/// <summary>
/// JPEG and WebP through SkiaSharp, for rate-distortion comparisons with the learned codecs.
/// </summary>
/// <remarks>
/// <para>The input <c>[1, 3, H, W]</c> in [0, 1] is first made 8-bit exactly as <see cref="ImageFile.EncodePng"/>
/// does (<c>round(clamp(x, 0, 1) · 255)</c>, ties to even, NaN as 0), so an image loaded from an 8-bit PNG is
/// coded as stored. Pixels are handed to Skia as opaque RGBA8888 <b>without a colour space</b>: the encoders then
/// write no ICC profile (Skia otherwise embeds a ~470-byte sRGB profile, 0.01 bpp on a Kodak image, about
/// 5 % of the file at 0.2 bpp) and no colour conversion happens on either side.</para>
/// <para><b>JPEG</b>: <see cref="SKJpegEncoderOptions"/> with the given quality (libjpeg's 1..100 scaling of the
/// standard Annex K tables), <see cref="SKJpegEncoderDownsample.Downsample420"/> — Skia's default, checked on the
/// bitstream: the SOF0 header gives Y 2x2 and Cb, Cr 1x1 sampling factors at every quality, the same 4:2:0 as
/// PIL's default — and baseline sequential coding (SOF0, not progressive). The file is JFIF (an 18-byte APP0
/// header plus tables), so at very low rates the headers are a visible share of the bytes. Quality 1 already
/// clamps every quantiser at 255 (quality 2 nearly every one), so JPEG bottoms out near 0.09 bpp on Kodak.
/// <see cref="EncodeJpeg(Tensor, int, SKJpegEncoderDownsample)"/> can ask for 4:2:2 or 4:4:4 instead.</para>
/// <para><b>WebP</b>: lossy (<see cref="SKWebpEncoderCompression.Lossy"/>), simple format (a RIFF <c>VP8 </c>
/// chunk, no VP8X/ICCP), encoded by libwebp with Skia's fixed settings (only the quality is exposed); VP8 always
/// codes chroma at 4:2:0. libwebp accepts quality 0..100.</para>
/// <para>Decoding goes through <see cref="ImageFile.DecodeImage"/> (Skia's decoders), so the reconstruction is
/// 8-bit and metrics on it are 8-bit metrics.</para>
/// </remarks>
public static class ClassicCodecs
{
    /// <summary>Lowest and highest quality setting accepted for <paramref name="codec"/> (JPEG 1..100, WebP 0..100).</summary>
    public static (int Min, int Max) QualityRange(ClassicCodec codec) => codec == ClassicCodec.Jpeg ? (1, 100) : (0, 100);

    /// <summary>The short label used in reports: "JPEG" or "WebP".</summary>
    public static string Label(ClassicCodec codec) => codec == ClassicCodec.Jpeg ? "JPEG" : "WebP";

    /// <summary>Encodes an image <c>[1, 3, H, W]</c> (or <c>[3, H, W]</c>) in [0, 1] with <paramref name="codec"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The quality is outside <see cref="QualityRange"/>.</exception>
    /// <exception cref="ArgumentException">The tensor is not an image tensor.</exception>
    public static byte[] Encode(ClassicCodec codec, Tensor image, int quality) => codec switch
    {
        ClassicCodec.Jpeg => EncodeJpeg(image, quality),
        ClassicCodec.Webp => EncodeWebp(image, quality),
        _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "unknown codec"),
    };

    /// <summary>Encodes as baseline JPEG at <paramref name="quality"/> (1..100) with the given chroma subsampling (default 4:2:0).</summary>
    public static byte[] EncodeJpeg(Tensor image, int quality, SKJpegEncoderDownsample downsample = SKJpegEncoderDownsample.Downsample420)
    {
        CheckQuality(ClassicCodec.Jpeg, quality);
        var options = new SKJpegEncoderOptions(quality, downsample, SKJpegEncoderAlphaOption.Ignore);
        return ImageFile.Encode(image, "JPEG", pixmap => pixmap.Encode(options));
    }

    /// <summary>Encodes as lossy WebP at <paramref name="quality"/> (0..100).</summary>
    public static byte[] EncodeWebp(Tensor image, int quality)
    {
        CheckQuality(ClassicCodec.Webp, quality);
        var options = new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossy, quality);
        return ImageFile.Encode(image, "WebP", pixmap => pixmap.Encode(options));
    }

    /// <summary>Decodes an encoded JPEG/WebP (or any format <see cref="ImageFile.DecodeImage"/> reads) to <c>[1, 3, H, W]</c>.</summary>
    public static Tensor Decode(byte[] bytes, string? nameForErrors = null) =>
        ImageFile.DecodeImage(bytes, nameForErrors, applyExifOrientation: false);

    /// <summary>Encodes and decodes: the file bytes and the reconstruction the decoder gives.</summary>
    public static ClassicCoding Code(ClassicCodec codec, Tensor image, int quality)
    {
        var bytes = Encode(codec, image, quality);
        return new ClassicCoding(codec, quality, bytes, Decode(bytes, $"<{Label(codec)} q{quality}>"));
    }

    private static void CheckQuality(ClassicCodec codec, int quality)
    {
        var (min, max) = QualityRange(codec);
        if (quality < min || quality > max)
            throw new ArgumentOutOfRangeException(nameof(quality), quality, $"{Label(codec)} quality must be {min}..{max}, got {quality}");
    }
}
