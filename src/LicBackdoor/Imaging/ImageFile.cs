using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace LicBackdoor.Imaging;

/// <summary>
/// Image files and in-memory encoded images to and from tensors <c>[1, 3, H, W]</c> float32 in [0, 1]
/// (channel order R, G, B), decoded and encoded with SkiaSharp.
/// </summary>
/// <remarks>
/// <para>Decoding reads every format <see cref="SKCodec"/> reads (PNG, JPEG, GIF (first frame), BMP, WebP,
/// ICO, WBMP). Grey, grey+alpha, palette (with or without <c>tRNS</c>) and RGB(A) images all come out as
/// three channels. <b>Alpha is dropped, not composited</b>: pixels keep their stored (unpremultiplied)
/// colour whatever their opacity, as PIL's <c>Image.convert("RGB")</c> does in CompressAI's data path.</para>
/// <para>No colour management: an embedded ICC profile or <c>gAMA</c> chunk is ignored and the stored
/// sample values are returned, again as PIL does.</para>
/// <para>8-bit samples map to <c>v / 255f</c> exactly (as torchvision's <c>to_tensor</c>). 16-bit RGB and RGBA
/// PNGs are decoded through Skia's RGBA F16 path (Skia offers no 16-bit integer or float32 output for PNG):
/// about 11 significant bits, absolute error at most 2.5e-4, so more than 8 bits of precision are kept but
/// not all 16. 16-bit grey and grey+alpha PNGs are reduced by Skia to their high byte whatever the output
/// type, so they load as 8-bit values <c>(v &gt;&gt; 8) / 255f</c>.</para>
/// <para>The EXIF orientation Skia reports (JPEG <c>APP1</c>, PNG <c>eXIf</c>) is applied by default, so the
/// tensor is upright as a viewer shows it; PIL (and so CompressAI) ignores it. Pass
/// <c>applyExifOrientation: false</c> to get the stored pixel order.</para>
/// <para>Encoding writes 8-bit RGB PNGs without a colour profile: <c>round(clamp(x, 0, 1) * 255)</c> with
/// ties to even (as <c>torch.round</c>); NaN is written as 0. The PNG round trip of an 8-bit image is
/// exact.</para>
/// </remarks>
public static partial class ImageFile
{
    /// <summary>Largest accepted width or height, in pixels (checked before any pixel memory is allocated).</summary>
    public const int MaxSide = 32768;

    /// <summary>Largest accepted pixel count (256 Mpixel; a 3 GiB float tensor).</summary>
    public const long MaxPixels = 256L * 1024 * 1024;

    /// <summary>Largest accepted encoded file size (1 GiB).</summary>
    public const long MaxFileBytes = 1L << 30;

    private const string MemoryLabel = "<image data>";

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>v / 255f for every 8-bit v, exactly as torchvision's to_tensor computes it.</summary>
    private static readonly float[] ByteToUnit = BuildByteTable();

    /// <summary>
    /// Reads an image file into a float32 tensor <c>[1, 3, H, W]</c> in [0, 1]. See the class remarks for
    /// alpha, grey, palette, 16-bit and orientation handling.
    /// </summary>
    /// <param name="path">The image file.</param>
    /// <param name="applyExifOrientation">Rotate/flip upright according to the EXIF orientation (default true).</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ImageFormatException">The file is empty, truncated, corrupt, of an unsupported format or too large.</exception>
    /// <param name="maxPixels">Largest accepted pixel count (default <see cref="MaxPixels"/>), checked from the header before decoding.</param>
    public static Tensor Load(string path, bool applyExifOrientation = true, long maxPixels = MaxPixels)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new ImageFormatException(path, "is a directory, not an image file");
        var file = new FileInfo(path);
        if (!file.Exists)
            throw new FileNotFoundException($"Image file not found: {path}", path);
        if (file.Length > MaxFileBytes)
            throw new ImageFormatException(path, $"file is too large ({file.Length} bytes; the limit is {MaxFileBytes})");
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"Image file not found: {path}", path, e);
        }
        return DecodeImage(data, path, applyExifOrientation, maxPixels);
    }

    /// <summary>
    /// Decodes an encoded image (PNG, JPEG, ...) held in memory into a float32 tensor <c>[1, 3, H, W]</c> in [0, 1].
    /// </summary>
    /// <param name="data">The encoded bytes.</param>
    /// <param name="nameForErrors">A file name or label used in error messages (default <c>&lt;image data&gt;</c>).</param>
    /// <param name="applyExifOrientation">Rotate/flip upright according to the EXIF orientation (default true).</param>
    /// <exception cref="ImageFormatException">The data is empty, truncated, corrupt, of an unsupported format or too large.</exception>
    /// <param name="maxPixels">Largest accepted pixel count (default <see cref="MaxPixels"/>, at most that), checked from the header before decoding.</param>
    public static Tensor DecodeImage(byte[] data, string? nameForErrors = null, bool applyExifOrientation = true, long maxPixels = MaxPixels)
    {
        if (maxPixels < 1 || maxPixels > MaxPixels) throw new ArgumentOutOfRangeException(nameof(maxPixels), $"the pixel cap must be 1..{MaxPixels}");
        ArgumentNullException.ThrowIfNull(data);
        string name = string.IsNullOrEmpty(nameForErrors) ? MemoryLabel : nameForErrors;
        if (data.Length == 0)
            throw new ImageFormatException(name, "is empty (0 bytes)");

        // Refuse absurd PNG dimensions from the header before the decoder sees them.
        if (TryReadPngHeader(data, out int pngWidth, out int pngHeight, out _, out _))
            CheckDimensions(name, pngWidth, pngHeight, maxPixels);

        using var skData = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(skData)
            ?? throw new ImageFormatException(name, DescribeUnrecognised(data));

        int width = codec.Info.Width, height = codec.Info.Height;
        CheckDimensions(name, width, height, maxPixels);

        // Skia keeps more than 8 bits only for 16-bit RGB(A) PNGs, and only through F16 output.
        bool sixteenBit = TryReadPngHeader(data, out _, out _, out int bitDepth, out int pngColorType)
            && bitDepth == 16 && (pngColorType == 2 || pngColorType == 6);
        // Null colour space: Skia converts nothing and returns the stored samples.
        var target = new SKImageInfo(width, height, sixteenBit ? SKColorType.RgbaF16 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        int bytesPerPixel = sixteenBit ? 8 : 4;
        nuint bufferBytes = (nuint)((long)width * height * bytesPerPixel);
        var orientation = applyExifOrientation ? codec.EncodedOrigin : SKEncodedOrigin.TopLeft;

        unsafe
        {
            void* pixels = NativeMemory.Alloc(bufferBytes);
            try
            {
                var result = codec.GetPixels(target, (IntPtr)pixels, width * bytesPerPixel, SKCodecOptions.Default);
                if (result != SKCodecResult.Success)
                    throw new ImageFormatException(name, DescribeFailure(result, codec.EncodedFormat));

                var map = PixelMap.For(orientation, width, height);
                var planes = new float[3L * width * height];
                if (sixteenBit)
                    ScatterHalf((Half*)pixels, width, height, planes, map);
                else
                    ScatterBytes((byte*)pixels, width, height, planes, map);
                return torch.tensor(planes, new long[] { 1, 3, map.OutHeight, map.OutWidth });
            }
            finally
            {
                NativeMemory.Free(pixels);
            }
        }
    }

    /// <summary>
    /// Encodes <c>[1, 3, H, W]</c> or <c>[3, H, W]</c> floating-point values in [0, 1] as a lossless 8-bit RGB PNG:
    /// <c>round(clamp(x, 0, 1) * 255)</c>, ties to even, NaN as 0. The tensor may be on any device and need not
    /// be contiguous; it is not modified.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong shape, non-floating dtype, or dimensions beyond <see cref="MaxSide"/>/<see cref="MaxPixels"/>.</exception>
    public static byte[] EncodePng(Tensor image) => Encode(image, "PNG", pixmap => pixmap.Encode(SKPngEncoderOptions.Default));

    /// <summary>
    /// Quantises an image tensor to 8 bits as <see cref="EncodePng"/> does and hands the opaque RGBA8888 pixels,
    /// with no colour space (so no sRGB/iCCP/ICC data is written), to <paramref name="encode"/>. Shared by the PNG
    /// writer and the JPEG/WebP baselines.
    /// </summary>
    internal static byte[] Encode(Tensor image, string format, Func<SKPixmap, SKData?> encode)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (height, width) = CheckSavableShape(image);
        float[] values;
        using (torch.NewDisposeScope())
        {
            var cpu = image.detach().to(ScalarType.Float32, torch.CPU).contiguous();
            values = cpu.data<float>().ToArray();
        }

        long plane = (long)height * width;
        var rgba = new byte[plane * 4];
        for (long i = 0, o = 0; i < plane; i++, o += 4)
        {
            rgba[o] = Quantize(values[i]);
            rgba[o + 1] = Quantize(values[plane + i]);
            rgba[o + 2] = Quantize(values[2 * plane + i]);
            rgba[o + 3] = 255;
        }

        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), width * 4);
            using var encoded = encode(pixmap)
                ?? throw new IOException($"{format} encoding of a {width}x{height} image failed in SkiaSharp");
            return encoded.ToArray();
        }
        finally
        {
            handle.Free();
        }
    }

    /// <summary>
    /// Writes <paramref name="image"/> (<c>[1, 3, H, W]</c> or <c>[3, H, W]</c>, values in [0, 1]) to
    /// <paramref name="path"/> as a lossless 8-bit PNG (see <see cref="EncodePng"/>). The file is written
    /// under a temporary name in the same directory, flushed to disk and renamed into place, so a reader
    /// or a crash never sees a partial file; on any failure the temporary file is deleted and an existing
    /// file at <paramref name="path"/> is left untouched.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid tensor (see <see cref="EncodePng"/>); nothing is written.</exception>
    /// <exception cref="DirectoryNotFoundException">The target directory does not exist.</exception>
    public static void SavePng(Tensor image, string path)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string fileName = Path.GetFileName(full);
        if (fileName.Length == 0)
            throw new ArgumentException($"not a file path: {path}", nameof(path));
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"not a file path: {path}", nameof(path));
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Cannot save {path}: directory {directory} does not exist");

        byte[] png = EncodePng(image);

        string temp = Path.Combine(directory, $".{fileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(png);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private static (int Height, int Width) CheckSavableShape(Tensor image)
    {
        var shape = image.shape;
        bool ok = (shape.Length == 4 && shape[0] == 1 && shape[1] == 3) || (shape.Length == 3 && shape[0] == 3);
        if (!ok)
            throw new ArgumentException($"expected an image tensor [1, 3, H, W] or [3, H, W], got [{string.Join(", ", shape)}]", nameof(image));
        if (!image.is_floating_point())
            throw new ArgumentException($"expected a floating-point image tensor with values in [0, 1], got {image.dtype}", nameof(image));
        long height = shape[^2], width = shape[^1];
        if (height < 1 || width < 1 || height > MaxSide || width > MaxSide || height * width > MaxPixels)
            throw new ArgumentException($"cannot encode the image: each side must be 1..{MaxSide} and at most {MaxPixels} pixels, got {width}x{height}", nameof(image));
        return ((int)height, (int)width);
    }

    private static byte Quantize(float v)
    {
        if (!(v > 0f)) return 0;          // also NaN
        if (v >= 1f) return 255;
        return (byte)MathF.Round(v * 255f); // MidpointRounding.ToEven, like torch.round
    }

    private static void CheckDimensions(string name, long width, long height, long maxPixels = MaxPixels)
    {
        if (width < 1 || height < 1)
            throw new ImageFormatException(name, $"has invalid dimensions {width}x{height}");
        if (width > MaxSide || height > MaxSide)
            throw new ImageFormatException(name, $"is too large ({width}x{height}); each side must be at most {MaxSide} pixels");
        if (width * height > maxPixels)
            throw new ImageFormatException(name, $"is too large ({width}x{height} = {width * height} pixels); the limit is {maxPixels} pixels");
    }

    /// <summary>Reads width, height, bit depth and colour type from a PNG's IHDR; false if the data is not a PNG with an IHDR.</summary>
    private static bool TryReadPngHeader(byte[] data, out int width, out int height, out int bitDepth, out int colorType)
    {
        width = height = bitDepth = colorType = 0;
        if (data.Length < 29 || !data.AsSpan(0, 8).SequenceEqual(PngSignature)) return false;
        if (data[12] != (byte)'I' || data[13] != (byte)'H' || data[14] != (byte)'D' || data[15] != (byte)'R') return false;
        uint w = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(16)), h = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(20));
        width = (int)Math.Min(w, int.MaxValue);
        height = (int)Math.Min(h, int.MaxValue);
        bitDepth = data[24];
        colorType = data[25];
        return true;
    }

    private static string DescribeUnrecognised(byte[] data)
    {
        ReadOnlySpan<byte> d = data;
        string? format =
            d.StartsWith(PngSignature) ? "PNG" :
            d.Length >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF ? "JPEG" :
            d.StartsWith("GIF8"u8) ? "GIF" :
            d.Length >= 12 && d.StartsWith("RIFF"u8) && d.Slice(8, 4).SequenceEqual("WEBP"u8) ? "WebP" :
            d.StartsWith("BM"u8) ? "BMP" :
            null;
        if (format is not null)
            return $"{format} header is corrupt or truncated ({data.Length} bytes)";
        string head = Convert.ToHexString(data, 0, Math.Min(8, data.Length));
        return $"is not a supported image format (PNG, JPEG, GIF, BMP, WebP, ICO, WBMP); first bytes {head}";
    }

    private static string DescribeFailure(SKCodecResult result, SKEncodedImageFormat encoded)
    {
        string format = encoded switch
        {
            SKEncodedImageFormat.Png => "PNG",
            SKEncodedImageFormat.Jpeg => "JPEG",
            SKEncodedImageFormat.Gif => "GIF",
            SKEncodedImageFormat.Bmp => "BMP",
            SKEncodedImageFormat.Webp => "WebP",
            SKEncodedImageFormat.Ico => "ICO",
            _ => encoded.ToString(),
        };
        return result switch
        {
            SKCodecResult.IncompleteInput => $"{format} image data is truncated (incomplete input)",
            SKCodecResult.ErrorInInput => $"{format} image data is corrupt",
            SKCodecResult.InvalidConversion => $"{format} pixel format cannot be converted to RGB",
            SKCodecResult.Unimplemented => $"{format} image uses a feature the decoder does not support",
            _ => $"{format} decoding failed ({result})",
        };
    }

    private static float[] BuildByteTable()
    {
        var table = new float[256];
        for (int i = 0; i < 256; i++) table[i] = i / 255f;
        return table;
    }

    private static unsafe void ScatterBytes(byte* src, int width, int height, float[] planes, PixelMap map)
    {
        long plane = (long)width * height;
        var lut = ByteToUnit;
        for (int y = 0; y < height; y++)
        {
            byte* row = src + (long)y * width * 4;
            long d = map.Base + y * map.RowStep;
            for (int x = 0; x < width; x++, d += map.ColStep)
            {
                byte* p = row + 4 * x;
                planes[d] = lut[p[0]];
                planes[plane + d] = lut[p[1]];
                planes[2 * plane + d] = lut[p[2]];
            }
        }
    }

    private static unsafe void ScatterHalf(Half* src, int width, int height, float[] planes, PixelMap map)
    {
        long plane = (long)width * height;
        for (int y = 0; y < height; y++)
        {
            Half* row = src + (long)y * width * 4;
            long d = map.Base + y * map.RowStep;
            for (int x = 0; x < width; x++, d += map.ColStep)
            {
                Half* p = row + 4 * x;
                planes[d] = Math.Clamp((float)p[0], 0f, 1f);
                planes[plane + d] = Math.Clamp((float)p[1], 0f, 1f);
                planes[2 * plane + d] = Math.Clamp((float)p[2], 0f, 1f);
            }
        }
    }

    /// <summary>
    /// Where stored pixel (y, x) lands in the upright output plane: index = Base + y * RowStep + x * ColStep.
    /// EXIF orientations 5-8 swap width and height.
    /// </summary>
    private readonly record struct PixelMap(int OutHeight, int OutWidth, long Base, long RowStep, long ColStep)
    {
        public static PixelMap For(SKEncodedOrigin origin, int w, int h) => origin switch
        {
            SKEncodedOrigin.TopRight => new(h, w, w - 1, w, -1),                                // mirror horizontally
            SKEncodedOrigin.BottomRight => new(h, w, (long)(h - 1) * w + w - 1, -w, -1),       // rotate 180
            SKEncodedOrigin.BottomLeft => new(h, w, (long)(h - 1) * w, -w, 1),                 // mirror vertically
            SKEncodedOrigin.LeftTop => new(w, h, 0, 1, h),                                      // transpose
            SKEncodedOrigin.RightTop => new(w, h, h - 1, -1, h),                                // rotate 90 clockwise
            SKEncodedOrigin.RightBottom => new(w, h, (long)(w - 1) * h + h - 1, -1, -h),       // transverse
            SKEncodedOrigin.LeftBottom => new(w, h, (long)(w - 1) * h, 1, -h),                 // rotate 90 counter-clockwise
            _ => new(h, w, 0, w, 1),
        };
    }
}
