using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace LicBackdoor.Codec.Bitstream;

/// <summary>
/// The <c>.lic</c> container: one compressed image with everything needed to decode it.
/// Layout (little-endian), version 2 (version 1 is identical except that its fingerprint covers every weight of the
/// codec; version 2's covers the decoder side only, <see cref="Zoo.LoadedCodec.Fingerprint"/>):
/// <code>
/// "LICB" | u8 version | u8 flags (0) | u8 name length | model name (ASCII) | u8 quality
/// | 8-byte weights fingerprint | u32 original height | u32 original width | u32 z height | u32 z width
/// | u8 string count | per string: u32 length, bytes | 8-byte checksum (first 8 bytes of SHA-256 of all preceding bytes)
/// </code>
/// Strings are CompressAI's <c>[y, z]</c> rANS strings. The payload (what bpp counts, as CompressAI does)
/// is the sum of the string lengths; the header and checksum add <see cref="OverheadBytes"/>.
/// </summary>
public sealed record LicFile(
    string ModelName,
    int Quality,
    ulong WeightsFingerprint,
    int Height,
    int Width,
    int ZHeight,
    int ZWidth,
    IReadOnlyList<byte[]> Strings)
{
    /// <summary>File magic.</summary>
    public static ReadOnlySpan<byte> Magic => "LICB"u8;

    /// <summary>The format version this build writes (it also reads <see cref="FullFingerprintVersion"/>).</summary>
    public const byte CurrentVersion = 2;

    /// <summary>Version 1: the same layout, with the fingerprint of all the codec's weights.</summary>
    public const byte FullFingerprintVersion = 1;

    /// <summary>The version the file was read with (<see cref="CurrentVersion"/> for files made in memory).</summary>
    public byte Version { get; init; } = CurrentVersion;

    /// <summary>Largest accepted image side (pixels) and string size, so hostile headers cannot force huge allocations.</summary>
    public const int MaxSide = 1 << 16;
    public const int MaxStringBytes = 1 << 30;
    private const int ChecksumBytes = 8;

    /// <summary>Total bytes of the compressed strings (the payload CompressAI counts for bpp).</summary>
    public long PayloadBytes => Strings.Sum(s => (long)s.Length);

    /// <summary>Bytes of header and checksum around the payload.</summary>
    public int OverheadBytes => 4 + 1 + 1 + 1 + Encoding.ASCII.GetByteCount(ModelName) + 1 + 8 + 16 + 1 + 4 * Strings.Count + ChecksumBytes;

    /// <summary>Serialises to bytes (validating every field).</summary>
    public byte[] ToBytes()
    {
        Validate();
        var name = Encoding.ASCII.GetBytes(ModelName);
        using var ms = new MemoryStream();
        ms.Write(Magic);
        ms.WriteByte(CurrentVersion);
        ms.WriteByte(0);
        ms.WriteByte((byte)name.Length);
        ms.Write(name);
        ms.WriteByte((byte)Quality);
        Span<byte> buf = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buf, WeightsFingerprint); ms.Write(buf);
        foreach (var v in new[] { Height, Width, ZHeight, ZWidth })
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buf, (uint)v); ms.Write(buf[..4]);
        }
        ms.WriteByte((byte)Strings.Count);
        foreach (var s in Strings)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buf, (uint)s.Length); ms.Write(buf[..4]);
            ms.Write(s);
        }
        var body = ms.ToArray();
        var hash = SHA256.HashData(body);
        var result = new byte[body.Length + ChecksumBytes];
        body.CopyTo(result, 0);
        hash.AsSpan(0, ChecksumBytes).CopyTo(result.AsSpan(body.Length));
        return result;
    }

    private void Validate()
    {
        if (string.IsNullOrEmpty(ModelName) || ModelName.Length > 255 || ModelName.Any(c => c < 0x20 || c > 0x7e))
            throw new ArgumentException("model name must be 1-255 printable ASCII characters");
        if (Quality < 0 || Quality > 255) throw new ArgumentException("quality must fit in a byte");
        if (Height <= 0 || Width <= 0 || Height > MaxSide || Width > MaxSide) throw new ArgumentException($"image size {Width}x{Height} out of range");
        if (ZHeight <= 0 || ZWidth <= 0 || ZHeight > MaxSide || ZWidth > MaxSide) throw new ArgumentException("latent size out of range");
        if (Strings.Count == 0 || Strings.Count > 255) throw new ArgumentException("1-255 strings required");
        if (Strings.Any(s => s.Length > MaxStringBytes)) throw new ArgumentException("string too large");
    }

    /// <summary>Writes the file atomically (temporary file in the same folder, then rename).</summary>
    public void Write(string path)
    {
        var bytes = ToBytes();
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>Reads and fully validates a <c>.lic</c> file; every problem is an <see cref="InvalidBitstreamException"/> naming the file.</summary>
    public static LicFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        long length = new FileInfo(path).Length;
        if (length > (long)MaxStringBytes + 4096) throw new InvalidBitstreamException($"{path}: file too large for a .lic bitstream ({length} bytes)", path);
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (IOException e) { throw new InvalidBitstreamException($"{path}: cannot read ({e.Message})", path, e); }
        catch (UnauthorizedAccessException e) { throw new InvalidBitstreamException($"{path}: cannot read ({e.Message})", path, e); }
        return Parse(data, path);
    }

    /// <summary>Parses bytes; <paramref name="name"/> is used in error messages.</summary>
    public static LicFile Parse(ReadOnlySpan<byte> data, string name = "<bytes>")
    {
        var r = new Reader(data, name);
        if (data.Length < 4 || !data[..4].SequenceEqual(Magic))
            throw new InvalidBitstreamException($"{name}: not a LicBackdoor bitstream (bad magic)", name);
        r.Skip(4);
        byte version = r.U8("version");
        if (version != CurrentVersion && version != FullFingerprintVersion)
            throw new InvalidBitstreamException($"{name}: unsupported .lic version {version} (this build reads versions {FullFingerprintVersion} and {CurrentVersion})", name);
        if (data.Length < ChecksumBytes + 5)
            throw new InvalidBitstreamException($"{name}: truncated ({data.Length} bytes)", name);
        var body = data[..^ChecksumBytes];
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(body, hash);
        bool checksumOk = hash[..ChecksumBytes].SequenceEqual(data[^ChecksumBytes..]);
        byte flags = r.U8("flags");
        int nameLen = r.U8("model name length");
        string model = Encoding.ASCII.GetString(r.Bytes(nameLen, "model name"));
        int quality = r.U8("quality");
        ulong fingerprint = r.U64("weights fingerprint");
        int height = r.Dim("image height"), width = r.Dim("image width");
        int zh = r.Dim("latent height"), zw = r.Dim("latent width");
        int count = r.U8("string count");
        var strings = new List<byte[]>(count);
        for (int i = 0; i < count; i++)
        {
            uint len = r.U32($"length of string {i}");
            if (len > r.Remaining - ChecksumBytes)
                throw new InvalidBitstreamException($"{name}: truncated: string {i} claims {len} bytes but only {Math.Max(0, r.Remaining - ChecksumBytes)} remain", name);
            strings.Add(r.Bytes((int)len, $"string {i}").ToArray());
        }
        if (r.Remaining != ChecksumBytes)
            throw new InvalidBitstreamException($"{name}: {(r.Remaining < ChecksumBytes ? "truncated" : "trailing bytes")}: expected an {ChecksumBytes}-byte checksum, found {r.Remaining} bytes", name);
        if (!checksumOk) throw new InvalidBitstreamException($"{name}: checksum mismatch: the file is damaged", name);
        if (flags != 0) throw new InvalidBitstreamException($"{name}: unknown flags 0x{flags:x2}", name);
        if (count == 0) throw new InvalidBitstreamException($"{name}: no strings", name);
        return new LicFile(model, quality, fingerprint, height, width, zh, zw, strings) { Version = version };
    }

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> data;
        private readonly string name;
        private int pos;
        public Reader(ReadOnlySpan<byte> data, string name) { this.data = data; this.name = name; pos = 0; }
        public int Remaining => data.Length - pos;
        public void Skip(int n) => pos += n;
        private void Need(int n, string what)
        {
            if (Remaining < n) throw new InvalidBitstreamException($"{name}: truncated while reading the {what} (needs {n} bytes, {Remaining} left)", name);
        }
        public byte U8(string what) { Need(1, what); return data[pos++]; }
        public uint U32(string what) { Need(4, what); var v = BinaryPrimitives.ReadUInt32LittleEndian(data[pos..]); pos += 4; return v; }
        public ulong U64(string what) { Need(8, what); var v = BinaryPrimitives.ReadUInt64LittleEndian(data[pos..]); pos += 8; return v; }
        public ReadOnlySpan<byte> Bytes(int n, string what) { Need(n, what); var s = data.Slice(pos, n); pos += n; return s; }
        public int Dim(string what)
        {
            uint v = U32(what);
            if (v == 0 || v > MaxSide) throw new InvalidBitstreamException($"{name}: invalid {what} {v}", name);
            return (int)v;
        }
    }
}
