using System.Runtime.InteropServices;
using SkiaSharp;

namespace LicBackdoor.Imaging;

/// <summary>PNG files from raw 8-bit pixel buffers (label maps, colour-coded class maps).</summary>
public static partial class ImageFile
{
    /// <summary>
    /// Writes <paramref name="values"/> (one byte per pixel, row by row) as an 8-bit greyscale PNG (colour
    /// type 0), atomically. Used for class-index maps, whose pixel value is the class.
    /// </summary>
    /// <exception cref="ArgumentException">The buffer does not hold <paramref name="width"/> × <paramref name="height"/> bytes, or a side is out of range.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void SaveGrayPng(byte[] values, int width, int height, string path) =>
        AtomicFile.WriteAllBytes(path, EncodeRaw(values, width, height, 1));

    /// <summary>Writes interleaved RGB bytes (3 per pixel, row by row) as an 8-bit RGB PNG, atomically.</summary>
    /// <exception cref="ArgumentException">The buffer does not hold 3 × <paramref name="width"/> × <paramref name="height"/> bytes, or a side is out of range.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void SaveRgbPng(byte[] rgb, int width, int height, string path) =>
        AtomicFile.WriteAllBytes(path, EncodeRaw(rgb, width, height, 3));

    private static byte[] EncodeRaw(byte[] data, int width, int height, int channels)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (width < 1 || height < 1 || width > MaxSide || height > MaxSide || (long)width * height > MaxPixels)
            throw new ArgumentException($"cannot encode a {width}x{height} image: each side must be 1..{MaxSide} and at most {MaxPixels} pixels");
        if (data.LongLength != (long)width * height * channels)
            throw new ArgumentException($"a {width}x{height} image with {channels} channel(s) needs {(long)width * height * channels} bytes, got {data.LongLength}");
        byte[] pixels;
        SKImageInfo info;
        int rowBytes;
        if (channels == 1)
        {
            pixels = data;
            info = new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
            rowBytes = width;
        }
        else
        {
            pixels = new byte[(long)width * height * 4];
            for (long i = 0, o = 0; i < (long)width * height; i++, o += 4)
            {
                pixels[o] = data[3 * i];
                pixels[o + 1] = data[3 * i + 1];
                pixels[o + 2] = data[3 * i + 2];
                pixels[o + 3] = 255;
            }
            info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
            rowBytes = width * 4;
        }
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), rowBytes);
            using var encoded = pixmap.Encode(SKPngEncoderOptions.Default)
                ?? throw new IOException($"PNG encoding of a {width}x{height} image failed in SkiaSharp");
            return encoded.ToArray();
        }
        finally
        {
            handle.Free();
        }
    }
}
