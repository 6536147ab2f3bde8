using LicBackdoor.Codec.Bitstream;
using LicBackdoor.Codec.Zoo;
using LicBackdoor.Imaging;
using static TorchSharp.torch;

using Padding = LicBackdoor.Imaging.Padding;

namespace LicBackdoor.Codec;

/// <summary>
/// Whole-image coding with a <see cref="LoadedCodec"/>: pads to a multiple of 64 (centred, CompressAI's
/// <c>compute_padding</c>), compresses to a <see cref="LicFile"/>, and decodes back with the crop. The file
/// records the model, quality and weights fingerprint; decoding with another codec is refused.
/// </summary>
public static class ImageCodec
{
    /// <summary>Compresses one image [1,3,H,W] in [0,1].</summary>
    public static LicFile Compress(LoadedCodec codec, Tensor image)
    {
        if (image.dim() != 4 || image.shape[0] != 1 || image.shape[1] != 3)
            throw new ArgumentException($"expected one RGB image [1,3,H,W], got [{string.Join(",", image.shape)}]");
        int h = (int)image.shape[2], w = (int)image.shape[3];
        using var scope = NewDisposeScope();
        var pad = Padding.Compute(h, w, codec.Model.DownsamplingFactor);
        var latents = codec.Model.Compress(Padding.Pad(image, pad));
        return new LicFile(codec.Model.ModelName, codec.Quality, codec.Fingerprint, h, w, latents.ZHeight, latents.ZWidth,
            new[] { latents.YStrings[0], latents.ZStrings[0] });
    }

    /// <summary>
    /// Default largest image (pixels, after padding to the model's multiple) <see cref="Decompress"/> accepts: 2^25,
    /// about 33.5 Mpixel (8K UHD is 33.2). The decoder's activations grow with the pixel count (a synthesis transform
    /// keeps N float channels at full resolution), so a header declaring a huge image is refused before anything is
    /// allocated. Override with the <c>maxPixels</c> argument (<c>licb decompress --max-pixels</c>).
    /// </summary>
    public const long DefaultMaxPixels = 1L << 25;

    /// <summary>Decodes a <see cref="LicFile"/> into an image [1,3,H,W] in [0,1].</summary>
    /// <param name="codec">The codec the file was written with (model, quality and fingerprint are checked).</param>
    /// <param name="file">The parsed file.</param>
    /// <param name="fileName">Named in error messages.</param>
    /// <param name="maxPixels">Largest padded image accepted (default <see cref="DefaultMaxPixels"/>), checked before any tensor is allocated.</param>
    /// <exception cref="InvalidBitstreamException">The file does not fit the codec, declares too large an image, or its streams are corrupt.</exception>
    public static Tensor Decompress(LoadedCodec codec, LicFile file, string? fileName = null, long maxPixels = DefaultMaxPixels)
    {
        if (maxPixels < 1) throw new ArgumentOutOfRangeException(nameof(maxPixels), "the pixel cap must be positive");
        string name = fileName ?? "<bitstream>";
        if (file.ModelName != codec.Model.ModelName)
            throw new InvalidBitstreamException($"{name}: was written by {file.ModelName}, not {codec.Model.ModelName}", fileName);
        ulong expected = file.Version == LicFile.FullFingerprintVersion ? codec.FullFingerprint : codec.Fingerprint;
        if (file.Quality != codec.Quality || file.WeightsFingerprint != expected)
            throw new InvalidBitstreamException(
                $"{name}: was written with other weights ({file.ModelName} q{file.Quality}, fingerprint {file.WeightsFingerprint:x16}; " +
                $"this codec is q{codec.Quality}, {expected:x16} from {codec.Source})", fileName);
        if (file.Strings.Count != 2)
            throw new InvalidBitstreamException($"{name}: expected 2 strings (y, z), found {file.Strings.Count}", fileName);
        int f = codec.Model.DownsamplingFactor;
        var pad = Padding.Compute(file.Height, file.Width, f);
        int ph = file.Height + pad.Top + pad.Bottom, pw = file.Width + pad.Left + pad.Right;
        if (file.ZHeight * f != ph || file.ZWidth * f != pw)
            throw new InvalidBitstreamException($"{name}: latent size {file.ZHeight}x{file.ZWidth} does not match image size {file.Width}x{file.Height}", fileName);
        if ((long)ph * pw > maxPixels)
            throw new InvalidBitstreamException(
                $"{name}: declares a {file.Width}x{file.Height} image ({(long)ph * pw} pixels padded), above the decoding cap of {maxPixels} pixels (raise it with --max-pixels)", fileName);
        using var scope = NewDisposeScope();
        try
        {
            var latents = new Models.CompressedLatents(new[] { file.Strings[0] }, new[] { file.Strings[1] }, file.ZHeight, file.ZWidth);
            var x = codec.Model.Decompress(latents);
            return Padding.Crop(x, pad).contiguous().MoveToOuterDisposeScope();
        }
        catch (InvalidBitstreamException e) when (e.FileName is null)
        {
            throw new InvalidBitstreamException($"{name}: {e.Message}", fileName, e);
        }
    }
}
