using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace LicBackdoor.Weights.Pickle;

/// <summary>
/// Reads the two <c>torch.save</c> file formats into an object graph with tensors:
/// <list type="bullet">
/// <item>zip (PyTorch 1.6+): <c>&lt;prefix&gt;/data.pkl</c> plus one record <c>&lt;prefix&gt;/data/&lt;key&gt;</c> per
/// storage, optional <c>&lt;prefix&gt;/byteorder</c>;</item>
/// <item>legacy: five consecutive pickles (magic number, protocol version 1001, system info, the object,
/// the storage keys) followed, for each key in order, by an int64 element count and the raw bytes.</item>
/// </list>
/// Each storage's size is checked against the bytes the file really holds before it is allocated, and the
/// tensors built on the storages may together take at most <see cref="OverlapFactor"/> times the storage
/// bytes (plus <see cref="OverlapSlack"/>), so zero-stride views cannot blow up memory.
/// </summary>
internal static partial class CheckpointReader
{
    /// <summary>The legacy format's magic number, the first pickle of the file.</summary>
    public static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");

    /// <summary>The magic number as its little-endian LONG1 bytes (<c>\x8a\x0a</c> + 10 bytes).</summary>
    public static readonly byte[] LegacyMagicBytes = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    private const long LegacyProtocolVersion = 1001;

    /// <summary>Largest pickle accepted (the object structure; tensor data is separate).</summary>
    private const long MaxPickleBytes = 1L << 30;

    /// <summary>Largest single storage (a .NET span's limit).</summary>
    private const long MaxStorageBytes = int.MaxValue;

    /// <summary>A deflated record cannot expand more than about 1032 times.</summary>
    private const long MaxDeflateRatio = 1100;

    private const long OverlapFactor = 4;
    private const long OverlapSlack = 64L << 20;

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,128}$")]
    private static partial Regex StorageKeyPattern();

    /// <summary>True when the file starts like a zip archive or a legacy torch.save file.</summary>
    public static bool Sniff(string path)
    {
        var head = new byte[32];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var span = head.AsSpan(0, n);
        if (span.StartsWith("PK\x03\x04"u8)) return true;
        return n > 2 && span[0] == 0x80 && span.IndexOf(LegacyMagicBytes) >= 0;
    }

    /// <summary>Reads a checkpoint in either format.</summary>
    public static object? Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Span<byte> head = stackalloc byte[4];
            int n = fs.ReadAtLeast(head, 4, throwOnEndOfStream: false);
            fs.Position = 0;
            if (n == 4 && head.SequenceEqual("PK\x03\x04"u8)) return ReadZip(fs, path);
            if (n >= 2 && head[0] == 0x80) return ReadLegacy(fs, path);
            throw new CheckpointFormatException($"{path}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file)", path);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new CheckpointFormatException($"{path}: truncated or corrupt checkpoint ({e.Message})", path, e);
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException($"{path}: cannot read ({e.Message})", path, e);
        }
        catch (OverflowException e)
        {
            throw new CheckpointFormatException($"{path}: a size in the checkpoint overflows ({e.Message})", path, e);
        }
    }

    // ------------------------------------------------------------------ zip format

    private static object? ReadZip(FileStream fs, string path)
    {
        CheckpointFormatException Bad(string what) => new($"{path}: {what}", path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true);
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                                             && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length).ToList();
        if (pickles.Count == 0) throw Bad("zip archive without a '<name>/data.pkl' record: not a torch.save checkpoint");
        if (pickles.Count > 1) throw Bad($"zip archive with {pickles.Count} '<name>/data.pkl' records: ambiguous");
        var pklEntry = pickles[0];
        string prefix = pklEntry.FullName[..^"/data.pkl".Length];

        bool bigEndian = false;
        if (zip.GetEntry(prefix + "/byteorder") is { } order)
        {
            var text = System.Text.Encoding.ASCII.GetString(ReadEntry(order, 16, path)).Trim();
            bigEndian = text switch
            {
                "little" => false,
                "big" => true,
                _ => throw Bad($"unknown byte order '{PickleGlobals.Printable(text)}'"),
            };
        }

        var records = new Dictionary<string, StorageRecord>(StringComparer.Ordinal);
        object? PersistentLoad(object? pid)
        {
            var (type, key, numel, _) = ParsePersistentId(pid, allowView: false, path);
            return new StorageView(Record(records, type, key, numel, path), 0, numel);
        }

        CheckEntrySize(pklEntry, fs.Length, path);
        var pickleBytes = ReadEntry(pklEntry, MaxPickleBytes, path);
        object? root;
        using (var ms = new MemoryStream(pickleBytes, writable: false))
            root = new Unpickler(ms, path, PersistentLoad).Load();
        var graph = ObjectGraph.Walk(root, path);
        CheckOverlap(graph, records.Values, path);

        using var scope = NewDisposeScope();
        foreach (var rec in records.Values)
        {
            var entry = zip.GetEntry($"{prefix}/data/{rec.Key}") ?? throw Bad($"storage '{rec.Key}' has no record {prefix}/data/{rec.Key}");
            CheckEntrySize(entry, fs.Length, path);
            if (entry.Length < rec.ByteLength)
                throw Bad($"storage '{rec.Key}' declares {rec.Numel} elements ({rec.ByteLength} bytes) but its record holds {entry.Length} bytes");
            var data = empty(rec.Numel, rec.DType);
            using (var s = entry.Open())
                s.ReadExactly(data.bytes);
            if (entry.Length == rec.ByteLength) CheckCrc(entry, data.bytes, path);
            Fix(data, rec, bigEndian);
            rec.Data = data;
        }
        return Materialise(root, graph);
    }

    private static void CheckEntrySize(ZipArchiveEntry entry, long fileLength, string path)
    {
        bool stored = entry.CompressedLength == entry.Length;
        if (entry.CompressedLength > fileLength || (!stored && entry.Length > entry.CompressedLength * MaxDeflateRatio + 1024))
            throw new CheckpointFormatException($"{path}: zip record {entry.FullName} declares {entry.Length} bytes, more than the file can hold", path);
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, long max, string path)
    {
        long length = entry.Length;
        if (length > max) throw new CheckpointFormatException($"{path}: zip record {entry.FullName} is {length} bytes (at most {max} accepted)", path);
        var buffer = new byte[length];
        using (var s = entry.Open())
            s.ReadExactly(buffer);
        CheckCrc(entry, buffer, path);
        return buffer;
    }

    /// <summary>
    /// Compares a whole record's bytes with the CRC-32 its zip headers declare (.NET's reader does not check it for stored
    /// records, which is how torch.save writes them; PyTorch's reader does), so a damaged record is refused, not loaded.
    /// </summary>
    private static void CheckCrc(ZipArchiveEntry entry, ReadOnlySpan<byte> bytes, string path)
    {
        uint crc = Crc32.Compute(bytes);
        if (crc != entry.Crc32)
            throw new CheckpointFormatException(
                $"{path}: zip record {entry.FullName} is damaged: its CRC-32 is {crc:x8}, the archive declares {entry.Crc32:x8}", path);
    }

    // ------------------------------------------------------------------ legacy format

    private static object? ReadLegacy(FileStream fs, string path)
    {
        CheckpointFormatException Bad(string what) => new($"{path}: {what}", path);
        var magic = new Unpickler(fs, path, null).Load();
        if (magic is not BigInteger m || m != LegacyMagic)
            throw Bad("not a PyTorch checkpoint (the legacy format's magic number is missing)");
        var protocol = new Unpickler(fs, path, null).Load();
        if (protocol is not long p || p != LegacyProtocolVersion)
            throw Bad($"legacy checkpoint protocol {Unpickler.Describe(protocol)} is not supported (expected {LegacyProtocolVersion})");
        var sysInfo = new Unpickler(fs, path, null).Load();
        if (sysInfo is not PickleDict info || !info.TryGetValue("little_endian", out var le) || le is not bool little)
            throw Bad("legacy checkpoint without a valid system-info record");

        var records = new Dictionary<string, StorageRecord>(StringComparer.Ordinal);
        var views = new Dictionary<string, StorageView>(StringComparer.Ordinal);
        object? PersistentLoad(object? pid)
        {
            var (type, key, numel, viewMeta) = ParsePersistentId(pid, allowView: true, path);
            var rec = Record(records, type, key, numel, path);
            if (viewMeta is null) return new StorageView(rec, 0, numel);
            if (viewMeta is not object?[] { Length: 3 } vm || vm[0] is not string viewKey || vm[1] is not long offset || vm[2] is not long size)
                throw Bad($"storage '{key}': invalid view metadata {Unpickler.Describe(viewMeta)}");
            if (offset < 0 || size < 0 || offset > numel || size > numel - offset)
                throw Bad($"storage view '{PickleGlobals.Printable(viewKey)}' [{offset}, +{size}) is outside storage '{key}' of {numel} elements");
            if (views.TryGetValue(viewKey, out var existing))
            {
                if (existing.Record != rec || existing.Offset != offset || existing.Numel != size)
                    throw Bad($"storage view '{PickleGlobals.Printable(viewKey)}' is declared twice differently");
                return existing;
            }
            return views[viewKey] = new StorageView(rec, offset, size);
        }

        var root = new Unpickler(fs, path, PersistentLoad).Load();
        var keyList = new Unpickler(fs, path, null).Load();
        if (keyList is not List<object?> keys || keys.Any(k => k is not string))
            throw Bad("legacy checkpoint: the storage-key list is not a list of strings");
        var graph = ObjectGraph.Walk(root, path);
        CheckOverlap(graph, records.Values, path);

        using var scope = NewDisposeScope();
        var done = new HashSet<string>(StringComparer.Ordinal);
        Span<byte> countBytes = stackalloc byte[8];
        foreach (string key in keys.Cast<string>())
        {
            if (!records.TryGetValue(key, out var rec)) throw Bad($"legacy checkpoint: data for storage '{PickleGlobals.Printable(key)}', which the pickle never uses");
            if (!done.Add(key)) throw Bad($"legacy checkpoint: storage '{key}' listed twice");
            fs.ReadExactly(countBytes);
            long count = BinaryPrimitives.ReadInt64LittleEndian(countBytes);
            if (!little) count = BinaryPrimitives.ReverseEndianness(count);
            if (count != rec.Numel)
                throw Bad($"legacy checkpoint: storage '{key}' is declared with {rec.Numel} elements but its data with {count}");
            if (rec.ByteLength > fs.Length - fs.Position)
                throw Bad($"storage '{key}' needs {rec.ByteLength} bytes but only {fs.Length - fs.Position} are left in the file (truncated)");
            var data = empty(rec.Numel, rec.DType);
            fs.ReadExactly(data.bytes);
            Fix(data, rec, bigEndian: !little);
            rec.Data = data;
        }
        var missing = records.Keys.Where(k => !done.Contains(k)).ToList();
        if (missing.Count > 0) throw Bad($"legacy checkpoint: no data for storage(s) {string.Join(", ", missing.Take(5))}");
        if (fs.Position != fs.Length)
            throw Bad($"legacy checkpoint: {fs.Length - fs.Position} bytes after the last storage's data (damaged, or not one checkpoint)");
        return Materialise(root, graph);
    }

    // ------------------------------------------------------------------ shared

    /// <summary>Parses <c>('storage', type, key, location, numel[, view_metadata])</c>.</summary>
    private static (PickleGlobal Type, string Key, long Numel, object? View) ParsePersistentId(object? pid, bool allowView, string path)
    {
        CheckpointFormatException Bad(string what) => new($"{path}: {what}", path);
        if (pid is not object?[] t || t.Length < 5 || t.Length > (allowView ? 6 : 5))
            throw Bad($"unsupported persistent id {Unpickler.Describe(pid)} (expected a storage reference)");
        if (t[0] is not "storage") throw Bad($"unsupported persistent id kind {Unpickler.Describe(t[0])}");
        if (t[1] is not PickleGlobal { Kind: GlobalKind.StorageType } type)
            throw Bad($"storage type {Unpickler.Describe(t[1])} is not a torch storage type");
        if (t[2] is not string key || !StorageKeyPattern().IsMatch(key))
            throw Bad($"storage key {Unpickler.Describe(t[2])} is invalid");
        if (t[3] is not string) throw Bad($"storage location {Unpickler.Describe(t[3])} is not a string");
        if (t[4] is not long numel || numel < 0) throw Bad($"storage '{key}' has an invalid element count {Unpickler.Describe(t[4])}");
        if (numel > MaxStorageBytes / type.ElementSize)
            throw Bad($"storage '{key}' declares {numel} elements, more than {MaxStorageBytes} bytes");
        return (type, key, numel, t.Length == 6 ? t[5] : null);
    }

    private static StorageRecord Record(Dictionary<string, StorageRecord> records, PickleGlobal type, string key, long numel, string path)
    {
        if (records.TryGetValue(key, out var rec))
        {
            if (rec.Type != type || rec.Numel != numel)
                throw new CheckpointFormatException($"{path}: storage '{key}' is declared as both {rec.Type.Name}[{rec.Numel}] and {type.Name}[{numel}]", path);
            return rec;
        }
        return records[key] = new StorageRecord(key, type, numel);
    }

    private static void CheckOverlap(ObjectGraph graph, IEnumerable<StorageRecord> records, string path)
    {
        long storageBytes = records.Sum(r => r.ByteLength);
        long tensorBytes = 0;
        foreach (var t in graph.Tensors) tensorBytes = checked(tensorBytes + t.ByteLength);
        foreach (var s in graph.Storages) tensorBytes = checked(tensorBytes + s.Numel * s.Record.ElementSize);
        if (tensorBytes > checked(storageBytes * OverlapFactor + OverlapSlack))
            throw new CheckpointFormatException(
                $"{path}: the tensors would take {tensorBytes} bytes from {storageBytes} bytes of storage (absurd overlapping views)", path);
    }

    /// <summary>Byte order and bool normalisation of a freshly read storage.</summary>
    private static void Fix(Tensor data, StorageRecord rec, bool bigEndian)
    {
        if (data.NumberOfElements == 0) return;
        var span = data.bytes;
        if (bigEndian && rec.ElementSize > 1)
            for (int i = 0; i + rec.ElementSize <= span.Length; i += rec.ElementSize) span.Slice(i, rec.ElementSize).Reverse();
        if (rec.DType == ScalarType.Bool)
            for (int i = 0; i < span.Length; i++) if (span[i] > 1) span[i] = 1;
    }

    /// <summary>Builds every tensor from its storage and puts it in place of its placeholder.</summary>
    private static object? Materialise(object? root, ObjectGraph graph)
    {
        var made = new Dictionary<object, Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var spec in graph.Tensors)
        {
            var rec = spec.Storage.Record;
            var result = empty(spec.Size, rec.DType);
            if (spec.Numel > 0)
            {
                using var view = rec.Data!.as_strided(spec.Size, spec.Stride, spec.Storage.Offset + spec.Offset);
                result.copy_(view);
            }
            made[spec] = result.MoveToOuterDisposeScope();
        }
        foreach (var s in graph.Storages)
        {
            using var view = s.Record.Data!.narrow(0, s.Offset, s.Numel);
            made[s] = view.clone().MoveToOuterDisposeScope();
        }
        graph.Replace(o => made[o]);
        return root is TensorSpec or StorageView ? made[root] : root;
    }
}
