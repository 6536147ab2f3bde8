using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LicBackdoor.Tests.Imaging;

/// <summary>
/// Hand-made image byte streams for tests: a minimal PNG writer (any colour type and bit depth, one IDAT,
/// filter 0, no interlace) and an EXIF orientation injector for JPEGs.
/// </summary>
internal static class TestImageFiles
{
    /// <summary>PNG colour types (PNG spec, IHDR).</summary>
    public const int Grey = 0, Rgb = 2, Palette = 3, GreyAlpha = 4, Rgba = 6;

    /// <summary>
    /// A PNG of the given header fields whose image data are <paramref name="raw"/> rows (without the filter
    /// byte), each <c>raw.Length / height</c> bytes, multi-byte samples big-endian.
    /// </summary>
    public static byte[] Png(int width, int height, int bitDepth, int colorType, byte[] raw, byte[]? palette = null, byte[]? transparency = null)
    {
        var output = new MemoryStream();
        output.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = (byte)bitDepth;
        header[9] = (byte)colorType;
        WriteChunk(output, "IHDR", header);
        if (palette is not null) WriteChunk(output, "PLTE", palette);
        if (transparency is not null) WriteChunk(output, "tRNS", transparency);
        int rowBytes = height == 0 ? 0 : raw.Length / height;
        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                zlib.WriteByte(0);
                zlib.Write(raw, y * rowBytes, rowBytes);
            }
        }
        WriteChunk(output, "IDAT", compressed.ToArray());
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    /// <summary>Only a PNG signature and IHDR claiming the given size (no image data).</summary>
    public static byte[] PngHeaderOnly(int width, int height)
    {
        var output = new MemoryStream();
        output.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = Rgb;
        WriteChunk(output, "IHDR", header);
        return output.ToArray();
    }

    /// <summary>Inserts an EXIF APP1 segment holding only the orientation tag right after a JPEG's SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, int orientation)
    {
        if (jpeg.Length < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) throw new ArgumentException("not a JPEG");
        var tiff = new List<byte>();
        tiff.AddRange("MM"u8.ToArray());
        tiff.AddRange(new byte[] { 0, 42, 0, 0, 0, 8 });        // big-endian TIFF, IFD0 at offset 8
        tiff.AddRange(new byte[] { 0, 1 });                     // one entry
        tiff.AddRange(new byte[] { 0x01, 0x12, 0, 3, 0, 0, 0, 1 }); // Orientation, SHORT, count 1
        tiff.AddRange(new byte[] { (byte)(orientation >> 8), (byte)orientation, 0, 0 });
        tiff.AddRange(new byte[] { 0, 0, 0, 0 });               // no next IFD
        var payload = Encoding.ASCII.GetBytes("Exif\0\0").Concat(tiff).ToArray();
        int length = payload.Length + 2;
        var result = new List<byte>(jpeg.Length + length + 2) { 0xFF, 0xD8, 0xFF, 0xE1, (byte)(length >> 8), (byte)length };
        result.AddRange(payload);
        result.AddRange(jpeg.Skip(2));
        return result.ToArray();
    }

    private static void WriteChunk(Stream output, string type, byte[] data)
    {
        var buffer = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(buffer, data.Length);
        output.Write(buffer);
        var typed = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type).CopyTo(typed, 0);
        data.CopyTo(typed, 4);
        output.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, LicBackdoor.Crc32.Compute(typed));
        output.Write(buffer);
    }
}
