using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LicBackdoor.Tests.Weights;

/// <summary>Writes pickles opcode by opcode, so tests can build exact (and hostile) inputs.</summary>
internal sealed class PickleBytes
{
    private readonly List<byte> bytes = [];

    public byte[] ToArray() => [.. bytes];

    public PickleBytes Op(params byte[] raw) { bytes.AddRange(raw); return this; }

    public PickleBytes Op(char c, params byte[] rest) => Op((byte)c).Op(rest);

    public PickleBytes Proto(int p = 2) => Op(0x80, (byte)p);

    public PickleBytes Stop() => Op('.');

    public PickleBytes Mark() => Op('(');

    public PickleBytes Global(string module, string name) => Op('c').Op(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    public PickleBytes StackGlobal() => Op(0x93);

    public PickleBytes Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        if (b.Length < 256) Op(0x8c, (byte)b.Length);
        else { Op('X'); Op(LE32(b.Length)); }
        return Op(b);
    }

    public PickleBytes Int(long v)
    {
        if (v is >= 0 and < 256) return Op('K', (byte)v);
        if (v is >= int.MinValue and <= int.MaxValue) return Op('J').Op(LE32((int)v));
        var b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        return Op(0x8a, 8).Op(b);
    }

    public PickleBytes Tuple(params long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Op('t');
    }

    public PickleBytes EmptyTuple() => Op(')');

    public PickleBytes TupleEnd() => Op('t');

    public PickleBytes EmptyDict() => Op('}');

    public PickleBytes SetItems() => Op('u');

    public PickleBytes SetItem() => Op('s');

    public PickleBytes Reduce() => Op('R');

    public PickleBytes False() => Op(0x89);

    public PickleBytes None() => Op('N');

    public PickleBytes BinPersId() => Op('Q');

    public PickleBytes Put(int i) => Op('q', (byte)i);

    public PickleBytes Get(int i) => Op('h', (byte)i);

    /// <summary><c>OrderedDict()</c>.</summary>
    public PickleBytes OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>
    /// <c>_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())</c> with the persistent id
    /// <c>('storage', torch.&lt;type&gt;, key, 'cpu', numel[, view])</c>.
    /// </summary>
    public PickleBytes Tensor(string storageType, string key, long numel, long offset, long[] size, long[] stride, Action<PickleBytes>? view = null)
    {
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel);
        view?.Invoke(this);
        TupleEnd().BinPersId();
        Int(offset).Tuple(size).Tuple(stride).False().OrderedDict();
        return TupleEnd().Reduce();
    }

    private static byte[] LE32(int v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        return b;
    }
}

/// <summary>Writes checkpoint files around a pickle, in the two torch.save layouts.</summary>
internal static class CheckpointFiles
{
    /// <summary>A zip checkpoint: <c>&lt;prefix&gt;/data.pkl</c>, <c>&lt;prefix&gt;/data/&lt;key&gt;</c>, optional byteorder.</summary>
    public static void Zip(string path, byte[] pickle, Dictionary<string, byte[]>? storages = null,
                           string prefix = "archive", string? byteOrder = null, bool includePickle = true,
                           CompressionLevel level = CompressionLevel.NoCompression)
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            var e = zip.CreateEntry(name, level);
            using var s = e.Open();
            s.Write(data);
        }
        if (includePickle) Add($"{prefix}/data.pkl", pickle);
        if (byteOrder is not null) Add($"{prefix}/byteorder", Encoding.ASCII.GetBytes(byteOrder));
        foreach (var (k, v) in storages ?? new Dictionary<string, byte[]>()) Add($"{prefix}/data/{k}", v);
        Add($"{prefix}/version", "3\n"u8.ToArray());
    }

    /// <summary>
    /// A legacy checkpoint: magic, protocol 1001, sys info, the pickle, the key list, then per key its
    /// declared element count and bytes.
    /// </summary>
    public static void Legacy(string path, byte[] pickle, IReadOnlyList<(string Key, long Count, byte[] Data)> storages, bool littleEndian = true)
    {
        var ms = new MemoryStream();
        ms.Write(new PickleBytes().Proto().Op(0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).Stop().ToArray());
        ms.Write(new PickleBytes().Proto().Op('M', 0xe9, 0x03).Stop().ToArray());
        ms.Write(new PickleBytes().Proto().EmptyDict().Mark().Str("protocol_version").Op('M', 0xe9, 0x03)
            .Str("little_endian").Op(littleEndian ? (byte)0x88 : (byte)0x89).SetItems().Stop().ToArray());
        ms.Write(pickle);
        var keys = new PickleBytes().Proto().Op(']').Mark();
        foreach (var s in storages) keys.Str(s.Key);
        ms.Write(keys.Op('e').Stop().ToArray());
        foreach (var (_, count, data) in storages)
        {
            var b = new byte[8];
            if (littleEndian) BinaryPrimitives.WriteInt64LittleEndian(b, count);
            else BinaryPrimitives.WriteInt64BigEndian(b, count);
            ms.Write(b);
            ms.Write(data);
        }
        File.WriteAllBytes(path, ms.ToArray());
    }

    public static byte[] Floats(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), values[i]);
        return b;
    }
}
