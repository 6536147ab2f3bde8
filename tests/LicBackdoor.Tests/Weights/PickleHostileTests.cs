using System.Diagnostics;
using LicBackdoor.Weights;

namespace LicBackdoor.Tests.Weights;

/// <summary>
/// Hostile and broken checkpoints, built byte by byte: every one is refused with a
/// <see cref="CheckpointFormatException"/> naming the file (and the global, where there is one), quickly
/// and without large allocations. Nothing in them is ever executed.
/// </summary>
public sealed class PickleHostileTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-hostile-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private string Zip(string name, byte[] pickle, Dictionary<string, byte[]>? storages = null)
    {
        var path = Path.Combine(dir, name);
        CheckpointFiles.Zip(path, pickle, storages);
        return path;
    }

    private static CheckpointFormatException Refused(string path, params string[] mentions)
    {
        var sw = Stopwatch.StartNew();
        var ex = Assert.Throws<CheckpointFormatException>(() => TorchCheckpoint.Load(path));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        Assert.Contains(Path.GetFileName(path), ex.Message);
        Assert.Equal(path, ex.FileName);
        foreach (var m in mentions) Assert.True(ex.Message.Contains(m, StringComparison.Ordinal), $"\"{m}\" not in: {ex.Message}");
        return ex;
    }

    /// <summary><c>module.name('echo pwned')</c> by GLOBAL + REDUCE.</summary>
    private static byte[] CallGlobal(string module, string name) =>
        new PickleBytes().Proto().Global(module, name).Mark().Str("echo pwned").TupleEnd().Reduce().Stop().ToArray();

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("nt", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("__builtin__", "eval")]
    [InlineData("builtins", "getattr")]
    [InlineData("subprocess", "Popen")]
    [InlineData("subprocess", "check_output")]
    [InlineData("numpy.core.multiarray", "_reconstruct")]
    [InlineData("torch.storage", "_load_from_bytes")]
    [InlineData("torch", "load")]
    [InlineData("collections", "defaultdict")]
    [InlineData("torch.nn.modules.conv", "Conv2d")]
    public void DisallowedGlobalsAreRefusedByName(string module, string name)
    {
        Refused(Zip("evil.pth", CallGlobal(module, name)), $"'{module}.{name}'", "refused global");
        var legacy = Path.Combine(dir, "evil-legacy.pth");
        CheckpointFiles.Legacy(legacy, CallGlobal(module, name), []);
        Refused(legacy, $"'{module}.{name}'");
    }

    [Fact]
    public void StackGlobalVariantsAreRefusedByName()
    {
        // SHORT_BINUNICODE strings
        var a = new PickleBytes().Proto(4).Str("os").Str("system").StackGlobal().Mark().Str("id").TupleEnd().Reduce().Stop().ToArray();
        Refused(Zip("sg1.pth", a), "'os.system'");
        // memoized strings fetched back with BINGET, BINUNICODE encoding
        var b = new PickleBytes().Proto(4)
            .Op('X', 8, 0, 0, 0).Op("builtins"u8.ToArray()).Put(0)
            .Op('X', 4, 0, 0, 0).Op("eval"u8.ToArray()).Put(1)
            .Op('0').Op('0').Get(0).Get(1).StackGlobal().Op(0x94).Mark().Str("1+1").TupleEnd().Reduce().Stop().ToArray();
        Refused(Zip("sg2.pth", b), "'builtins.eval'");
        // NEWOBJ on a refused class
        var c = new PickleBytes().Proto(4).Str("subprocess").Str("Popen").StackGlobal().EmptyTuple().Op(0x81).Stop().ToArray();
        Refused(Zip("sg3.pth", c), "'subprocess.Popen'");
        // STACK_GLOBAL with a non-string operand
        var d = new PickleBytes().Proto(4).Int(1).Str("system").StackGlobal().Stop().ToArray();
        Refused(Zip("sg4.pth", d), "STACK_GLOBAL");
        // INST names its class (and is refused even for an allowed one)
        var e = new PickleBytes().Proto().Mark().Op('i').Op("os\nsystem\n"u8.ToArray()).Stop().ToArray();
        Refused(Zip("inst.pth", e), "'os.system'");
    }

    [Fact]
    public void ReduceOnlyCallsAllowListedCallables()
    {
        // A storage type is allow-listed as a name, but is not callable.
        var a = new PickleBytes().Proto().Global("torch", "FloatStorage").EmptyTuple().Reduce().Stop().ToArray();
        Refused(Zip("r1.pth", a), "torch.FloatStorage", "cannot be called");
        // REDUCE on a string, a dict and a number.
        Refused(Zip("r2.pth", new PickleBytes().Proto().Str("os.system").EmptyTuple().Reduce().Stop().ToArray()), "REDUCE", "not an allowed callable");
        Refused(Zip("r3.pth", new PickleBytes().Proto().EmptyDict().EmptyTuple().Reduce().Stop().ToArray()), "REDUCE");
        Refused(Zip("r4.pth", new PickleBytes().Proto().Int(5).EmptyTuple().Reduce().Stop().ToArray()), "REDUCE");
        // BUILD on anything but a dict (Python would call __setstate__ or setattr).
        Refused(Zip("b1.pth", new PickleBytes().Proto().Op(']').EmptyDict().Op('b').Stop().ToArray()), "BUILD");
        // OBJ, EXT, out-of-band buffers.
        Refused(Zip("o1.pth", new PickleBytes().Proto().Mark().Global("collections", "OrderedDict").Op('o').Stop().ToArray()), "OBJ");
        Refused(Zip("x1.pth", new PickleBytes().Proto().Op(0x82, 1).Stop().ToArray()), "EXT");
        Refused(Zip("x2.pth", new PickleBytes().Proto(5).Op(0x97).Stop().ToArray()), "NEXT_BUFFER");
        // A bare reference to an allowed global is not data.
        Refused(Zip("g1.pth", new PickleBytes().Proto().Global("collections", "OrderedDict").Stop().ToArray()), "collections.OrderedDict");
    }

    [Fact]
    public void StorageLargerThanTheFileIsRefusedBeforeAllocating()
    {
        // zip: the pickle declares 10^8 floats, the record holds 16 bytes
        var big = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 100_000_000, 0, [100_000_000], [1]).SetItems().Stop().ToArray();
        Refused(Zip("big.pth", big, new() { ["0"] = new byte[16] }), "storage '0'", "16 bytes");
        // an absurd element count (> 2 GiB) is refused from the pickle alone
        var absurd = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Tensor("DoubleStorage", "0", 1L << 60, 0, [1], [1]).SetItems().Stop().ToArray();
        Refused(Zip("absurd.pth", absurd, new() { ["0"] = new byte[16] }), "storage '0'");
        // legacy: the data section claims 10^8 elements
        var legacy = Path.Combine(dir, "big-legacy.pth");
        CheckpointFiles.Legacy(legacy, big, [("0", 100_000_000, new byte[16])]);
        Refused(legacy, "storage '0'");
        // legacy: declared and stored counts differ
        var legacy2 = Path.Combine(dir, "count-legacy.pth");
        var small = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 4, 0, [4], [1], p => p.None()).SetItems().Stop().ToArray();
        CheckpointFiles.Legacy(legacy2, small, [("0", 3, new byte[12])]);
        Refused(legacy2, "storage '0'");
        // a missing storage record
        var five = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 4, 0, [4], [1]).SetItems().Stop().ToArray();
        Refused(Zip("norecord.pth", five), "storage '0'", "no record");
    }

    [Fact]
    public void TensorGeometryIsCheckedAgainstItsStorage()
    {
        byte[] T(long numel, long offset, long[] size, long[] stride) => new PickleBytes().Proto().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", numel, offset, size, stride).SetItems().Stop().ToArray();
        var data = new Dictionary<string, byte[]> { ["0"] = new byte[16] };
        Refused(Zip("g1.pth", T(4, 0, [5], [1]), data), "past its storage");
        Refused(Zip("g2.pth", T(4, 2, [2, 2], [2, 1]), data), "past its storage");
        Refused(Zip("g3.pth", T(4, 0, [2], [1, 1]), data), "stride");
        Refused(Zip("g4.pth", T(4, 0, [long.MaxValue, 4], [0, 0]), data), "overflows");
        // zero strides would copy a 4-byte storage into 4 TB
        Refused(Zip("g5.pth", T(1, 0, [1L << 40], [0]), data), "absurd");
        // negative sizes, offsets and strides
        var neg = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(4).TupleEnd().BinPersId()
            .Int(0).Mark().Int(-1).TupleEnd().Tuple(1).False().OrderedDict().TupleEnd().Reduce().SetItems().Stop().ToArray();
        Refused(Zip("g6.pth", neg, data), "non-negative");
        // a storage key that would walk out of the archive folder
        var key = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "../data.pkl", 4, 0, [4], [1]).SetItems().Stop().ToArray();
        Refused(Zip("g7.pth", key, data), "storage key");
        // one storage declared with two types
        var twice = new PickleBytes().Proto().EmptyDict().Mark()
            .Str("a").Tensor("FloatStorage", "0", 4, 0, [4], [1]).Str("b").Tensor("LongStorage", "0", 2, 0, [2], [1])
            .SetItems().Stop().ToArray();
        Refused(Zip("g8.pth", twice, data), "declared as both");
    }

    [Fact]
    public void BrokenArchivesAreRefused()
    {
        var good = new PickleBytes().Proto().EmptyDict().Mark().Str("w").Tensor("FloatStorage", "0", 4, 0, [4], [1]).SetItems().Stop().ToArray();
        var path = Zip("good.pth", good, new() { ["0"] = new byte[16] });
        var bytes = File.ReadAllBytes(path);
        foreach (int cut in new[] { bytes.Length / 3, bytes.Length / 2, bytes.Length - 10, 10, 4 })
        {
            var cutPath = Path.Combine(dir, $"cut{cut}.pth");
            File.WriteAllBytes(cutPath, bytes[..cut]);
            Refused(cutPath);
        }
        var noPickle = Path.Combine(dir, "nopkl.pth");
        CheckpointFiles.Zip(noPickle, good, new() { ["0"] = new byte[16] }, includePickle: false);
        Refused(noPickle, "data.pkl");
        var empty = Path.Combine(dir, "empty.pth");
        File.WriteAllBytes(empty, []);
        Refused(empty, "not a PyTorch checkpoint");
        var text = Path.Combine(dir, "text.pth");
        File.WriteAllText(text, "hello, not a checkpoint");
        Refused(text, "not a PyTorch checkpoint");
        var order = Path.Combine(dir, "order.pth");
        CheckpointFiles.Zip(order, good, new() { ["0"] = new byte[16] }, byteOrder: "middle");
        Refused(order, "byte order");
    }

    [Fact]
    public void TruncatedLegacyFilesAreRefusedAtEveryCut()
    {
        var real = File.ReadAllBytes(TestPaths.Fixture("hyperprior-n32m48-legacy.pth.tar"));
        var path = Path.Combine(dir, "cut-legacy.pth");
        foreach (int cut in new[] { 1, 5, 14, 20, 100, 137, 5000, 12540, 12541, 13000, 14005, 14010, 100_000, real.Length - 1 })
        {
            File.WriteAllBytes(path, real[..cut]);
            Refused(path);
        }
    }

    [Fact]
    public void RecursionBombsAreRefused()
    {
        const int n = 200_000;
        // 200 000 nested lists: [[[[...]]]]
        var lists = new PickleBytes().Proto();
        for (int i = 0; i < n; i++) lists.Op(']');
        for (int i = 0; i < n - 1; i++) lists.Op('a');
        Refused(Zip("lists.pth", lists.Stop().ToArray()), "nested deeper");
        // 200 000 nested tuples
        var tuples = new PickleBytes().Proto().EmptyTuple();
        for (int i = 0; i < n; i++) tuples.Op(0x85);
        Refused(Zip("tuples.pth", tuples.Stop().ToArray()), "nested deeper");
        // nested dicts as values
        var dicts = new PickleBytes().Proto();
        for (int i = 0; i < n; i++) dicts.EmptyDict().Str("k");
        dicts.None();
        for (int i = 0; i < n; i++) dicts.SetItem();
        Refused(Zip("dicts.pth", dicts.Stop().ToArray()), "nested deeper");
        // a list that contains itself
        Refused(Zip("cycle.pth", new PickleBytes().Proto().Op(']').Put(0).Get(0).Op('a').Stop().ToArray()), "cycle");
        // "billion laughs": 2^100 paths through 100 shared lists, fine to walk once each, but too deep
        var laughs = new PickleBytes().Proto().Op(']').Put(0);
        for (int i = 1; i <= 100; i++) laughs.Op(']').Mark().Get(i - 1).Get(i - 1).Op('e').Put(i).Op('0');
        Refused(Zip("laughs.pth", laughs.Get(100).Stop().ToArray()), "nested deeper");
        // ... and the same at depth 40 is legal and quick
        var small = new PickleBytes().Proto().Op(']').Put(0);
        for (int i = 1; i <= 40; i++) small.Op(']').Mark().Get(i - 1).Get(i - 1).Op('e').Put(i).Op('0');
        var root = TorchCheckpoint.Load(Zip("laughs40.pth", small.Get(40).Stop().ToArray()));
        Assert.Equal(2, Assert.IsType<List<object?>>(root).Count);
    }

    [Fact]
    public void MalformedPicklesAreRefused()
    {
        Refused(Zip("unknown.pth", new PickleBytes().Proto().Op(0xff).Stop().ToArray()), "unknown opcode 0xff");
        Refused(Zip("nostop.pth", new PickleBytes().Proto().EmptyDict().Mark().Str("a").Int(1).ToArray()), "without a STOP");
        Refused(Zip("underflow.pth", new PickleBytes().Proto().Op('a').Stop().ToArray()), "underflow");
        Refused(Zip("nomark.pth", new PickleBytes().Proto().Op('t').Stop().ToArray()), "MARK");
        Refused(Zip("memo.pth", new PickleBytes().Proto().Get(7).Stop().ToArray()), "memo");
        Refused(Zip("proto.pth", new PickleBytes().Proto(9).Stop().ToArray()), "protocol 9");
        Refused(Zip("longstr.pth", new PickleBytes().Proto().Op('X', 0xff, 0xff, 0xff, 0x7f).Op("abc"u8.ToArray()).Stop().ToArray()), "past the end");
        Refused(Zip("longbytes.pth", new PickleBytes().Proto().Op(0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff).Stop().ToArray()), "past the end");
        Refused(Zip("frame.pth", new PickleBytes().Proto(4).Op(0x95, 0, 0, 0, 0, 1, 0, 0, 0).Stop().ToArray()), "frame");
        Refused(Zip("utf8.pth", new PickleBytes().Proto().Op(0x8c, 2, 0xc3, 0x28).Stop().ToArray()), "UTF-8");
        Refused(Zip("key.pth", new PickleBytes().Proto().EmptyDict().Op(']').Int(1).SetItem().Stop().ToArray()), "dict key");
        Refused(Zip("pid.pth", new PickleBytes().Proto().Str("anything").BinPersId().Stop().ToArray()), "persistent id");
        Refused(Zip("set.pth", new PickleBytes().Proto(4).Op(0x8f).Stop().ToArray()), "sets");
        Refused(Zip("line.pth", new PickleBytes().Proto().Op('c').Op(new byte[10_000].Select(_ => (byte)'a').ToArray()).Stop().ToArray()), "line");
    }

    [Fact]
    public void RandomlyCorruptedPicklesNeverEscapeAsOtherExceptions()
    {
        // Byte flips in a real CompressAI pickle: each run either loads or is refused cleanly.
        string fixture = TestPaths.Fixture("hyperprior-n32m48.pth.tar");
        byte[] pickle;
        var storages = new Dictionary<string, byte[]>();
        using (var zip = System.IO.Compression.ZipFile.OpenRead(fixture))
        {
            pickle = ReadAll(zip.GetEntry("hyperprior-n32m48.pth/data.pkl")!);
            foreach (var e in zip.Entries.Where(e => e.FullName.Contains("/data/", StringComparison.Ordinal)))
                storages[e.Name] = ReadAll(e);
        }
        var rng = new Random(42);
        int refused = 0, loaded = 0;
        var path = Path.Combine(dir, "fuzz.pth");
        var sw = Stopwatch.StartNew();
        for (int iter = 0; iter < 150; iter++)
        {
            var mutated = (byte[])pickle.Clone();
            for (int k = 0, flips = rng.Next(1, 4); k < flips; k++) mutated[rng.Next(mutated.Length)] = (byte)rng.Next(256);
            CheckpointFiles.Zip(path, mutated, storages);
            try
            {
                var root = TorchCheckpoint.Load(path);
                loaded++;
                if (root is PickleDict d) foreach (var v in d.Values) (v as TorchSharp.torch.Tensor)?.Dispose();
            }
            catch (CheckpointFormatException e)
            {
                Assert.Contains("fuzz.pth", e.Message);
                refused++;
            }
        }
        Assert.True(refused > 10 && loaded > 0, $"refused {refused}, loaded {loaded}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
    }

    private static byte[] ReadAll(System.IO.Compression.ZipArchiveEntry e)
    {
        using var s = e.Open();
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
