using System.Buffers.Binary;
using System.Text.Json;
using static TorchSharp.torch;

namespace LicBackdoor.Weights;

/// <summary>
/// Reader for TensorFlow.js weights: a manifest JSON (a list of groups, each
/// <c>{ "paths": [shard files], "weights": [{ name, shape, dtype, quantization? }] }</c>) and the binary
/// shards it names. A group's tensors lie back to back, in manifest order and without padding, in the
/// concatenation of its shards. Quantised entries (<c>quantization.dtype</c> <c>uint8</c> or <c>uint16</c>)
/// store <c>q</c> and mean <c>min + scale·q</c>, computed in double and rounded to float32 as tfjs does;
/// <c>float16</c> entries are IEEE half floats widened to float32. Plain entries are little-endian
/// float32, int32 or bool.
/// </summary>
/// <remarks>
/// Every size is checked against the files before a tensor is built: the manifest's byte count per group
/// must equal the total size of its shards exactly, shard paths must stay inside the manifest's folder,
/// and shapes must be non-negative and small enough. Any problem is a <see cref="CheckpointFormatException"/>
/// whose message names the file concerned.
/// </remarks>
public static class TfJsWeights
{
    /// <summary>Largest accepted manifest (JSON) size.</summary>
    public const long MaxManifestBytes = 64L << 20;

    /// <summary>Largest accepted total shard size per group (the shards are read into one buffer).</summary>
    public const long MaxGroupBytes = int.MaxValue;

    /// <summary>
    /// Reads every tensor of the manifest's groups. Float entries (plain, quantised or float16) come out as
    /// float32; int32 entries as int32 (quantised ones rounded, as tfjs does); bool entries as bool.
    /// Shapes are TF's (conv kernels HWIO; see <see cref="HwioToOihw"/>).
    /// </summary>
    /// <param name="manifestPath">The <c>*weights_manifest.json</c> file; shard paths are relative to its folder.</param>
    /// <exception cref="FileNotFoundException">The manifest does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The manifest or a shard is malformed, missing, truncated or hostile.</exception>
    public static Dictionary<string, Tensor> Load(string manifestPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(manifestPath);
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"{manifestPath}: no such file", manifestPath);
        var manifestName = manifestPath;
        var info = new FileInfo(manifestPath);
        if (info.Length > MaxManifestBytes)
            throw new CheckpointFormatException($"{manifestName}: manifest is too large ({info.Length} bytes)", manifestName);
        byte[] json = ReadFile(manifestPath, manifestName);
        var groups = ParseManifest(json, manifestName);
        var folder = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var group in groups)
            {
                var shards = group.Paths.Select(p => ResolveShard(folder, p, manifestName)).ToList();
                long needed = 0;
                foreach (var e in group.Entries) needed = checked(needed + e.ByteCount);
                long available = 0;
                foreach (var s in shards)
                {
                    if (!File.Exists(s))
                        throw new CheckpointFormatException($"{s}: weights shard named by {manifestName} is missing", s);
                    available = checked(available + new FileInfo(s).Length);
                }
                if (available != needed)
                {
                    var names = string.Join(" + ", shards.Select(Path.GetFileName));
                    var what = available < needed ? "truncated" : "longer than described";
                    throw new CheckpointFormatException(
                        $"{shards.LastOrDefault() ?? manifestName}: weights shards ({names}) hold {available} bytes, " +
                        $"the manifest {Path.GetFileName(manifestName)} describes {needed} ({what})", shards.LastOrDefault() ?? manifestName);
                }
                if (needed > MaxGroupBytes)
                    throw new CheckpointFormatException($"{manifestName}: a weights group of {needed} bytes is too large", manifestName);

                var buffer = new byte[needed];
                int at = 0;
                foreach (var s in shards)
                {
                    var bytes = ReadFile(s, s);
                    if (at + (long)bytes.Length > buffer.Length)
                        throw new CheckpointFormatException($"{s}: weights shard changed while reading", s);
                    bytes.CopyTo(buffer, at);
                    at += bytes.Length;
                }
                if (at != buffer.Length)
                    throw new CheckpointFormatException($"{shards.Last()}: weights shard changed while reading", shards.Last());

                int offset = 0;
                foreach (var e in group.Entries)
                {
                    if (result.ContainsKey(e.Name))
                        throw new CheckpointFormatException($"{manifestName}: tensor '{e.Name}' appears twice", manifestName);
                    result[e.Name] = Decode(e, buffer.AsSpan(offset, (int)e.ByteCount), manifestName);
                    offset += (int)e.ByteCount;
                }
            }
        }
        catch (OverflowException e)
        {
            foreach (var t in result.Values) t.Dispose();
            throw new CheckpointFormatException($"{manifestName}: sizes in the manifest overflow", manifestName, e);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// A TF convolution kernel <c>[kH, kW, in, out]</c> (HWIO) as PyTorch's <c>[out, in, kH, kW]</c> (OIHW):
    /// <c>W_oihw[o, i, y, x] = W_hwio[y, x, i, o]</c>. Returns a new contiguous tensor.
    /// </summary>
    public static Tensor HwioToOihw(Tensor hwio)
    {
        ArgumentNullException.ThrowIfNull(hwio);
        if (hwio.dim() != 4) throw new ArgumentException($"an HWIO kernel has 4 dimensions, got [{string.Join(",", hwio.shape)}]", nameof(hwio));
        return hwio.permute(3, 2, 0, 1).contiguous();
    }

    /// <summary>
    /// A TF depthwise kernel <c>[kH, kW, in, multiplier]</c> as a PyTorch grouped-convolution weight
    /// <c>[in·multiplier, 1, kH, kW]</c> (use <c>groups = in</c>): TF's output channel <c>i·multiplier + m</c>
    /// is PyTorch's output channel of the same index.
    /// </summary>
    public static Tensor DepthwiseHwimToOihw(Tensor hwim)
    {
        ArgumentNullException.ThrowIfNull(hwim);
        if (hwim.dim() != 4) throw new ArgumentException($"a depthwise kernel has 4 dimensions, got [{string.Join(",", hwim.shape)}]", nameof(hwim));
        long kh = hwim.shape[0], kw = hwim.shape[1], cin = hwim.shape[2], mult = hwim.shape[3];
        return hwim.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw).contiguous();
    }

    private enum Storage { Float32, Int32, Bool, Uint8, Uint16, Float16 }

    private sealed record Entry(string Name, long[] Shape, ScalarType Dtype, Storage Storage, double Min, double Scale, long ByteCount);

    private sealed record Group(List<string> Paths, List<Entry> Entries);

    private static byte[] ReadFile(string path, string name)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new CheckpointFormatException($"{name}: cannot read ({e.Message})", name, e); }
    }

    private static string ResolveShard(string folder, string relative, string manifestName)
    {
        if (string.IsNullOrWhiteSpace(relative) || Path.IsPathRooted(relative) || relative.Contains('\0'))
            throw new CheckpointFormatException($"{manifestName}: shard path '{relative}' is not a relative file name", manifestName);
        var full = Path.GetFullPath(Path.Combine(folder, relative));
        var root = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        if (!full.StartsWith(root, StringComparison.Ordinal))
            throw new CheckpointFormatException($"{manifestName}: shard path '{relative}' points outside the manifest's folder", manifestName);
        return full;
    }

    private static List<Group> ParseManifest(byte[] json, string name)
    {
        CheckpointFormatException Bad(string what, Exception? inner = null) => new($"{name}: not a valid TF.js weights manifest: {what}", name, inner);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw Bad($"not JSON ({e.Message})", e); }
        var groups = new List<Group>();
        using (doc)
        try
        {
            var root = doc.RootElement;
            // The manifest is a list of groups; a model.json wraps it as { "weightsManifest": [...] }.
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("weightsManifest", out var wrapped)) root = wrapped;
            if (root.ValueKind != JsonValueKind.Array) throw Bad("expected a list of weight groups");
            int g = 0;
            foreach (var groupEl in root.EnumerateArray())
            {
                if (groupEl.ValueKind != JsonValueKind.Object) throw Bad($"group {g} is not an object");
                if (!groupEl.TryGetProperty("paths", out var pathsEl) || pathsEl.ValueKind != JsonValueKind.Array)
                    throw Bad($"group {g} has no 'paths' list");
                if (!groupEl.TryGetProperty("weights", out var weightsEl) || weightsEl.ValueKind != JsonValueKind.Array)
                    throw Bad($"group {g} has no 'weights' list");
                var paths = new List<string>();
                foreach (var p in pathsEl.EnumerateArray())
                {
                    if (p.ValueKind != JsonValueKind.String) throw Bad($"group {g} has a path that is not a string");
                    paths.Add(p.GetString()!);
                }
                var entries = new List<Entry>();
                foreach (var w in weightsEl.EnumerateArray()) entries.Add(ParseEntry(w, g, Bad));
                if (paths.Count == 0 && entries.Any(e => e.ByteCount > 0)) throw Bad($"group {g} has weights but no shard paths");
                groups.Add(new Group(paths, entries));
                g++;
            }
        }
        catch (InvalidOperationException e)
        {
            // Invalid UTF-8 (or an escaped lone surrogate) in a string surfaces only when the string is read.
            throw Bad($"text is not valid UTF-8 ({e.Message})", e);
        }
        return groups;
    }

    private static Entry ParseEntry(JsonElement w, int group, Func<string, Exception?, CheckpointFormatException> bad)
    {
        if (w.ValueKind != JsonValueKind.Object) throw bad($"group {group} has a weight entry that is not an object", null);
        string entryName = w.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
        if (entryName.Length == 0) throw bad($"group {group} has a weight entry without a name", null);
        CheckpointFormatException Bad(string what) => bad($"tensor '{entryName}': {what}", null);

        if (!w.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array) throw Bad("no shape");
        var shape = new List<long>();
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0) throw Bad($"invalid shape {shapeEl.GetRawText()}");
            shape.Add(v);
        }
        if (shape.Count > 8) throw Bad($"too many dimensions ({shape.Count})");
        long count = 1;
        try { foreach (var d in shape) count = checked(count * d); }
        catch (OverflowException) { throw Bad($"shape {shapeEl.GetRawText()} is too large"); }
        if (count > MaxGroupBytes) throw Bad($"shape {shapeEl.GetRawText()} is too large");

        string dtype = w.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! : "";
        (ScalarType type, Storage plain, int plainSize) = dtype switch
        {
            "float32" => (ScalarType.Float32, Storage.Float32, 4),
            "int32" => (ScalarType.Int32, Storage.Int32, 4),
            "bool" => (ScalarType.Bool, Storage.Bool, 1),
            _ => throw Bad($"unsupported dtype '{dtype}'"),
        };

        if (!w.TryGetProperty("quantization", out var q) || q.ValueKind == JsonValueKind.Null)
            return new Entry(entryName, shape.ToArray(), type, plain, 0, 1, count * plainSize);

        if (q.ValueKind != JsonValueKind.Object) throw Bad("quantization is not an object");
        string qType = q.TryGetProperty("dtype", out var qd) && qd.ValueKind == JsonValueKind.String ? qd.GetString()! : "";
        if (type == ScalarType.Bool) throw Bad("bool tensors cannot be quantised");
        switch (qType)
        {
            case "uint8":
            case "uint16":
                double min = Number(q, "min", Bad), scale = Number(q, "scale", Bad);
                var storage = qType == "uint8" ? Storage.Uint8 : Storage.Uint16;
                return new Entry(entryName, shape.ToArray(), type, storage, min, scale, count * (storage == Storage.Uint8 ? 1 : 2));
            case "float16":
                if (type != ScalarType.Float32) throw Bad("float16 quantisation needs dtype float32");
                return new Entry(entryName, shape.ToArray(), type, Storage.Float16, 0, 1, count * 2);
            default:
                throw Bad($"unsupported quantization dtype '{qType}'");
        }
    }

    private static double Number(JsonElement q, string field, Func<string, CheckpointFormatException> bad)
    {
        if (!q.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || !double.IsFinite(d))
            throw bad($"quantization has no finite '{field}'");
        return d;
    }

    private static Tensor Decode(Entry e, ReadOnlySpan<byte> bytes, string manifestName)
    {
        int count = (int)(e.ByteCount / e.Storage switch { Storage.Float32 or Storage.Int32 => 4, Storage.Uint16 or Storage.Float16 => 2, _ => 1 });
        switch (e.Storage)
        {
            case Storage.Float32:
            case Storage.Int32:
            case Storage.Bool:
            {
                var t = empty(e.Shape, e.Dtype);
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
                bytes.CopyTo(t.bytes);
                if (e.Storage == Storage.Bool)
                {
                    foreach (var b in bytes)
                        if (b > 1) { t.Dispose(); throw new CheckpointFormatException($"{manifestName}: tensor '{e.Name}': bool value {b} is neither 0 nor 1", manifestName); }
                }
                return t;
            }
            case Storage.Float16:
            {
                var values = new float[count];
                for (int i = 0; i < count; i++)
                    values[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                return tensor(values, e.Shape);
            }
            default:
            {
                // tfjs: values[i] = q[i] * scale + min in double, stored into a Float32Array (int32: JS Math.round,
                // i.e. floor(v + 0.5)).
                if (e.Dtype == ScalarType.Int32)
                {
                    var ints = new int[count];
                    for (int i = 0; i < count; i++)
                    {
                        double v = Math.Floor(Quantised(e, bytes, i) * e.Scale + e.Min + 0.5);
                        if (v < int.MinValue || v > int.MaxValue)
                            throw new CheckpointFormatException($"{manifestName}: tensor '{e.Name}': dequantised value {v} does not fit int32", manifestName);
                        ints[i] = (int)v;
                    }
                    return tensor(ints, e.Shape);
                }
                var values = new float[count];
                for (int i = 0; i < count; i++) values[i] = (float)(Quantised(e, bytes, i) * e.Scale + e.Min);
                return tensor(values, e.Shape);
            }
        }
    }

    private static double Quantised(Entry e, ReadOnlySpan<byte> bytes, int i) =>
        e.Storage == Storage.Uint8 ? bytes[i] : BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]);
}
