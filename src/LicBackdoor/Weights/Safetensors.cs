using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>
/// Reader and writer for the safetensors format (an 8-byte little-endian header length, a JSON header
/// mapping names to dtype/shape/byte ranges, then the raw little-endian data). The reader checks every
/// offset, size and shape against the file before allocating, so a hostile file is refused cleanly.
/// The format has no checksum of its own; files written here carry one in their metadata (<see cref="ChecksumKey"/>:
/// SHA-256 over every tensor's name, dtype, shape and byte range, the other metadata and the data section), and the
/// reader refuses a file whose checksum does not match, so a flipped bit anywhere in a file of ours is detected. Files
/// without the key (written elsewhere) load as before. <see cref="Load"/> also checks a file against the
/// <see cref="SumsFileName"/> of its folder when that lists it (how the weights shipped in <c>models/</c>, written
/// before the checksum key existed, are protected).
/// </summary>
public static class Safetensors
{
    private const long MaxHeaderBytes = 100L << 20;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> Dtypes = new()
    {
        ["F32"] = (ScalarType.Float32, 4), ["F64"] = (ScalarType.Float64, 8), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>The metadata key of the checksum this writer adds (and the reader verifies when present).</summary>
    public const string ChecksumKey = "licb.sha256";

    /// <summary>One tensor's header entry: name, dtype name (F32, …), shape, byte range in the data section.</summary>
    public readonly record struct Entry(string Name, string Dtype, long[] Shape, long Begin, long End);

    /// <summary>
    /// The checksum stored under <see cref="ChecksumKey"/>: lowercase hex SHA-256 over the entries (sorted by name), the
    /// metadata other than the checksum (sorted by key) and the data section.
    /// </summary>
    public static string Checksum(IEnumerable<Entry> entries, IReadOnlyDictionary<string, string> metadata, ReadOnlySpan<byte> data)
    {
        using var sha = StartChecksum(entries, metadata);
        sha.AppendData(data);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>A SHA-256 that has consumed the entries and metadata part of <see cref="Checksum"/>; the data comes next.</summary>
    private static IncrementalHash StartChecksum(IEnumerable<Entry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        var text = new StringBuilder();
        foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            text.Append(e.Name).Append('\0').Append(e.Dtype).Append('\0')
                .Append(string.Join(',', e.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)))).Append('\0')
                .Append(e.Begin.ToString(CultureInfo.InvariantCulture)).Append('\0')
                .Append(e.End.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append('\n');
        foreach (var (k, v) in metadata.Where(kv => kv.Key != ChecksumKey).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            text.Append(k).Append('\0').Append(v).Append('\n');
        var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(text.ToString()));
        return sha;
    }

    /// <summary>Writes tensors (and optional string metadata, to which the <see cref="ChecksumKey"/> checksum is added) atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var blobs = new List<byte[]>();
        var entries = new List<Entry>();
        long offset = 0;
        foreach (var name in names)
        {
            // The scope keeps every temporary reachable until its bytes and shape are read: an unreachable TorchSharp
            // tensor can be finalised on the finalizer thread in the middle of a native call that reads it.
            using var scope = NewDisposeScope();
            var t = tensors[name].detach().cpu().contiguous();
            var bytes = t.bytes.ToArray();
            entries.Add(new Entry(name, Dtypes.First(kv => kv.Value.Type == t.dtype).Key, t.shape, offset, offset + bytes.Length));
            blobs.Add(bytes);
            offset += bytes.Length;
        }
        var meta = metadata?.Where(kv => kv.Key != ChecksumKey).ToDictionary(kv => kv.Key, kv => kv.Value) ?? new Dictionary<string, string>();
        using (var sha = StartChecksum(entries, meta))
        {
            foreach (var b in blobs) sha.AppendData(b);
            meta[ChecksumKey] = Convert.ToHexStringLower(sha.GetHashAndReset());
        }
        var header = new Dictionary<string, object> { ["__metadata__"] = meta };
        foreach (var e in entries)
            header[e.Name] = new Dictionary<string, object> { ["dtype"] = e.Dtype, ["shape"] = e.Shape, ["data_offsets"] = new[] { e.Begin, e.End } };
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;
        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
            s.Write(len);
            s.Write(json);
            for (int i = 0; i < pad; i++) s.WriteByte((byte)' ');
            foreach (var b in blobs) s.Write(b);
        });
    }

    /// <summary>The checksum list (<c>sha256sum</c>'s format: hex digest, two spaces, file name) that <see cref="Load"/> honours in a file's folder.</summary>
    public const string SumsFileName = "SHA256SUMS";

    /// <summary>
    /// Reads every tensor and the metadata; any problem is a <see cref="CheckpointFormatException"/> naming the file.
    /// When the file's folder has a <see cref="SumsFileName"/> that lists the file, the file's SHA-256 must match it.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CheckpointFormatException($"{path}: cannot read ({e.Message})", path, e); }
        if (ListedDigest(path) is string listed)
        {
            var actual = Convert.ToHexStringLower(SHA256.HashData(data));
            if (!string.Equals(listed, actual, StringComparison.OrdinalIgnoreCase))
                throw new CheckpointFormatException($"{path}: SHA-256 {actual[..16]}… does not match {SumsFileName} of its folder ({Short(listed)}…): the file is damaged or was replaced", path);
        }
        return Parse(data, path);
    }

    /// <summary>The digest <see cref="SumsFileName"/> in <paramref name="path"/>'s folder lists for it, or null.</summary>
    private static string? ListedDigest(string path)
    {
        var sums = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, SumsFileName);
        if (!File.Exists(sums)) return null;
        string name = Path.GetFileName(path);
        string[] lines;
        try { lines = File.ReadAllLines(sums); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CheckpointFormatException($"{sums}: cannot read ({e.Message})", sums, e); }
        foreach (var line in lines)
        {
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space != 64) continue;
            var listedName = line[(space + 1)..].TrimStart(' ', '*');
            if (listedName == name) return line[..64];
        }
        return null;
    }

    /// <summary>Parses safetensors bytes; <paramref name="name"/> appears in error messages.</summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Parse(byte[] data, string name)
    {
        CheckpointFormatException Bad(string what) => new($"{name}: not a valid safetensors file: {what}", name);
        if (data.Length < 8) throw Bad("shorter than its 8-byte header length");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(data);
        if (headerLen > MaxHeaderBytes || (long)headerLen > data.Length - 8) throw Bad($"header length {headerLen} exceeds the file");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(data.AsMemory(8, (int)headerLen)); }
        catch (JsonException e) { throw new CheckpointFormatException($"{name}: not a valid safetensors file: header is not JSON ({e.Message})", name, e); }
        long dataStart = 8 + (long)headerLen;
        long dataLen = data.Length - dataStart;
        var tensors = new Dictionary<string, Tensor>();
        var meta = new Dictionary<string, string>();
        var ranges = new List<(long Begin, long End)>();
        var entries = new List<Entry>();
        using (doc)
        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                        meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                try
                {
                    var v = prop.Value;
                    var dtypeName = v.GetProperty("dtype").GetString() ?? "";
                    if (!Dtypes.TryGetValue(dtypeName, out var dt)) throw Bad($"tensor '{prop.Name}' has unsupported dtype '{dtypeName}'");
                    var shape = v.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                    if (shape.Length > 8 || shape.Any(d => d < 0)) throw Bad($"tensor '{prop.Name}' has an invalid shape");
                    var offs = v.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                    if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLen)
                        throw Bad($"tensor '{prop.Name}' has data offsets outside the file");
                    long count = 1;
                    foreach (var d in shape) { count = checked(count * d); }
                    if (checked(count * dt.Size) != offs[1] - offs[0])
                        throw Bad($"tensor '{prop.Name}': shape [{string.Join(",", shape)}] needs {count * dt.Size} bytes, its range has {offs[1] - offs[0]}");
                    ranges.Add((offs[0], offs[1]));
                    entries.Add(new Entry(prop.Name, dtypeName, shape, offs[0], offs[1]));
                    var t = empty(shape, dt.Type);
                    data.AsSpan((int)(dataStart + offs[0]), (int)(offs[1] - offs[0])).CopyTo(t.bytes);
                    if (!tensors.TryAdd(prop.Name, t)) { t.Dispose(); throw Bad($"tensor '{prop.Name}' appears twice"); }
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
                {
                    throw new CheckpointFormatException($"{name}: not a valid safetensors file: entry '{prop.Name}' is malformed ({e.Message})", name, e);
                }
            }
            // As the reference implementation requires: the byte ranges tile the data section exactly (no gaps, no
            // overlaps, nothing after the last tensor), so appended or shifted data is refused rather than ignored.
            long at = 0;
            foreach (var (begin, end) in ranges.OrderBy(r => r.Begin).ThenBy(r => r.End))
            {
                if (begin != at) throw Bad(begin < at ? $"tensor data ranges overlap at byte {begin}" : $"bytes {at}..{begin} of the data section belong to no tensor");
                at = end;
            }
            if (at != dataLen) throw Bad($"{dataLen - at} bytes after the last tensor's data (the tensors cover {at} of {dataLen} data bytes)");
            if (meta.TryGetValue(ChecksumKey, out var stored))
            {
                var computed = Checksum(entries, meta, data.AsSpan((int)dataStart, (int)dataLen));
                if (!string.Equals(stored, computed, StringComparison.Ordinal))
                    throw Bad($"checksum mismatch: the file changed after it was written (stored {ChecksumKey} {Short(stored)}, contents hash to {computed[..16]})");
            }
        }
        catch (InvalidOperationException e)
        {
            // Invalid UTF-8 (or an escaped lone surrogate) in a name or a string value surfaces only when it is read.
            foreach (var t in tensors.Values) t.Dispose();
            throw new CheckpointFormatException($"{name}: not a valid safetensors file: header text is not valid UTF-8 ({e.Message})", name, e);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return (tensors, meta);
    }

    private static string Short(string s) => s.Length > 16 ? s[..16] : s;
}
