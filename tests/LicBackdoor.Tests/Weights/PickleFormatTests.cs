using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Weights;

/// <summary>Hand-built checkpoints: views, shared storages, dtypes, byte order, both layouts.</summary>
public sealed class PickleFormatTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-pickle-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private string PathOf(string name) => Path.Combine(dir, name);

    private static readonly float[] Twelve = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();

    /// <summary>{'a': view [2,3] stride [1,2] at offset 2, 'b': whole [12], 'c': [3] at offset 9} on one storage.</summary>
    private static byte[] SharedStoragePickle(Action<PickleBytes>? view = null) => new PickleBytes().Proto()
        .OrderedDict().Mark()
        .Str("a").Tensor("FloatStorage", "0", 12, 2, [2, 3], [1, 2], view)
        .Str("b").Tensor("FloatStorage", "0", 12, 0, [12], [1], view)
        .Str("c").Tensor("FloatStorage", "0", 12, 9, [3], [1], view)
        .SetItems().Stop().ToArray();

    private static void CheckShared(Dictionary<string, Tensor> sd)
    {
        Assert.Equal(new long[] { 2, 3 }, sd["a"].shape);
        // element [i, j] = storage[2 + i + 2j]
        Assert.Equal(new float[] { 2, 4, 6, 3, 5, 7 }, sd["a"].data<float>().ToArray());
        Assert.Equal(Twelve, sd["b"].data<float>().ToArray());
        Assert.Equal(new float[] { 9, 10, 11 }, sd["c"].data<float>().ToArray());
        Assert.True(sd["a"].is_contiguous());
        sd["b"][0].fill_(100f); // separate memory
        Assert.Equal(9f, sd["c"][0].item<float>());
        foreach (var t in sd.Values) t.Dispose();
    }

    [Theory]
    [InlineData("archive")]
    [InlineData("my-model_v2.pth")]
    public void ZipViewsOnASharedStorageUnderAnyPrefix(string prefix)
    {
        var path = PathOf("shared.pth");
        CheckpointFiles.Zip(path, SharedStoragePickle(), new Dictionary<string, byte[]> { ["0"] = CheckpointFiles.Floats(Twelve) }, prefix);
        CheckShared(TorchCheckpoint.LoadStateDict(path));
    }

    [Fact]
    public void DeflatedZipRecordsAreAccepted()
    {
        var path = PathOf("deflated.pth");
        CheckpointFiles.Zip(path, SharedStoragePickle(), new Dictionary<string, byte[]> { ["0"] = CheckpointFiles.Floats(Twelve) },
                            level: CompressionLevel.Optimal);
        CheckShared(TorchCheckpoint.LoadStateDict(path));
    }

    [Fact]
    public void LegacyViewsOnASharedStorage()
    {
        var path = PathOf("shared-legacy.pth");
        CheckpointFiles.Legacy(path, SharedStoragePickle(p => p.None()), [("0", 12, CheckpointFiles.Floats(Twelve))]);
        CheckShared(TorchCheckpoint.LoadStateDict(path));
    }

    [Fact]
    public void LegacyStorageViewMetadataOffsetsTheView()
    {
        // ('storage', FloatStorage, '0', 'cpu', 12, ('v', 4, 6)): a 6-element view starting at element 4.
        var pickle = new PickleBytes().Proto().EmptyDict().Mark()
            .Str("v").Tensor("FloatStorage", "0", 12, 1, [2, 2], [2, 1], p => p.Mark().Str("v").Int(4).Int(6).TupleEnd())
            .SetItems().Stop().ToArray();
        var path = PathOf("view-legacy.pth");
        CheckpointFiles.Legacy(path, pickle, [("0", 12, CheckpointFiles.Floats(Twelve))]);
        var sd = TorchCheckpoint.LoadStateDict(path);
        Assert.Equal(new float[] { 5, 6, 7, 8 }, sd["v"].data<float>().ToArray());
        sd["v"].Dispose();
    }

    [Fact]
    public void BigEndianFilesAreConverted()
    {
        var be = new byte[48];
        for (int i = 0; i < 12; i++) BinaryPrimitives.WriteSingleBigEndian(be.AsSpan(4 * i), i);
        var zipPath = PathOf("be.pth");
        CheckpointFiles.Zip(zipPath, SharedStoragePickle(), new Dictionary<string, byte[]> { ["0"] = be }, byteOrder: "big");
        CheckShared(TorchCheckpoint.LoadStateDict(zipPath));
        var legacyPath = PathOf("be-legacy.pth");
        CheckpointFiles.Legacy(legacyPath, SharedStoragePickle(p => p.None()), [("0", 12, be)], littleEndian: false);
        CheckShared(TorchCheckpoint.LoadStateDict(legacyPath));
    }

    [Fact]
    public void AllStorageDtypesRoundTrip()
    {
        var cases = new (string Type, ScalarType DType, int Size)[]
        {
            ("FloatStorage", ScalarType.Float32, 4), ("HalfStorage", ScalarType.Float16, 2), ("BFloat16Storage", ScalarType.BFloat16, 2),
            ("DoubleStorage", ScalarType.Float64, 8), ("LongStorage", ScalarType.Int64, 8), ("IntStorage", ScalarType.Int32, 4),
            ("ShortStorage", ScalarType.Int16, 2), ("CharStorage", ScalarType.Int8, 1), ("ByteStorage", ScalarType.Byte, 1),
            ("BoolStorage", ScalarType.Bool, 1),
        };
        var p = new PickleBytes().Proto().EmptyDict().Mark();
        var storages = new Dictionary<string, byte[]>();
        var expected = new Dictionary<string, Tensor>();
        for (int i = 0; i < cases.Length; i++)
        {
            var (type, dtype, size) = cases[i];
            var t = (dtype == ScalarType.Bool ? arange(5).remainder(2).eq(0) : (arange(5) - 2).to_type(dtype));
            expected[type] = t;
            storages[i.ToString()] = t.bytes.ToArray();
            p.Str(type).Tensor(type, i.ToString(), 5, 0, [5], [1]);
        }
        var path = PathOf("dtypes.pth");
        CheckpointFiles.Zip(path, p.SetItems().Stop().ToArray(), storages);
        var sd = TorchCheckpoint.LoadStateDict(path);
        foreach (var (type, dtype, _) in cases)
        {
            Assert.Equal(dtype, sd[type].dtype);
            Assert.True(sd[type].bytes.SequenceEqual(expected[type].bytes), type);
        }
        foreach (var t in sd.Values.Concat(expected.Values)) t.Dispose();
    }

    [Fact]
    public void NestedCheckpointDictsAndPlainValues()
    {
        // {'epoch': 7, 'loss': 0.5, 'name': 'x', 'flags': [True, None], 'big': 2**70, 'blob': b'\x01\x02',
        //  'state_dict': OrderedDict(w=tensor)}
        var p = new PickleBytes().Proto(4).EmptyDict().Mark()
            .Str("epoch").Int(7)
            .Str("loss").Op('G').Op(0x3f, 0xe0, 0, 0, 0, 0, 0, 0)
            .Str("name").Str("x")
            .Str("flags").Op(']').Mark().Op(0x88).None().Op('e')
            .Str("big").Op(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40)
            .Str("blob").Op('C', 2, 1, 2)
            .Str("state_dict").OrderedDict().Mark().Str("w").Tensor("FloatStorage", "0", 3, 0, [3], [1]).SetItems()
            .SetItems().Stop().ToArray();
        var path = PathOf("nested.pth");
        CheckpointFiles.Zip(path, p, new Dictionary<string, byte[]> { ["0"] = CheckpointFiles.Floats(1, 2, 3) });
        var root = Assert.IsType<PickleDict>(TorchCheckpoint.Load(path));
        Assert.Equal(7L, root["epoch"]);
        Assert.Equal(0.5, root["loss"]);
        Assert.Equal("x", root["name"]);
        Assert.Equal(new object?[] { true, null }, Assert.IsType<List<object?>>(root["flags"]));
        Assert.Equal(BigInteger.Pow(2, 70), root["big"]);
        Assert.Equal(new byte[] { 1, 2 }, root["blob"]);
        ((Tensor)((PickleDict)root["state_dict"]!)["w"]!).Dispose();
        var sd = TorchCheckpoint.LoadStateDict(path);
        Assert.Equal(new float[] { 1, 2, 3 }, sd["w"].data<float>().ToArray());
        sd["w"].Dispose();
    }

    [Fact]
    public void ParametersMemoAndStackGlobalAreUnderstood()
    {
        // Protocol 4 style: STACK_GLOBAL, MEMOIZE, FRAME, _rebuild_parameter around a tensor, same tensor twice.
        var p = new PickleBytes().Proto(4).Op(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
            .EmptyDict().Op(0x94).Mark()
            .Str("p").Str("torch._utils").Str("_rebuild_parameter").StackGlobal()
            .Mark().Tensor("FloatStorage", "0", 2, 0, [2], [1]).Op(0x94).Op(0x88).OrderedDict().TupleEnd().Reduce()
            .Str("q").Op('h', 1)
            .SetItems().Stop().ToArray();
        var path = PathOf("param.pth");
        CheckpointFiles.Zip(path, p, new Dictionary<string, byte[]> { ["0"] = CheckpointFiles.Floats(4, 5) });
        var sd = TorchCheckpoint.LoadStateDict(path);
        Assert.Equal(new float[] { 4, 5 }, sd["p"].data<float>().ToArray());
        Assert.Equal(new float[] { 4, 5 }, sd["q"].data<float>().ToArray());
        Assert.NotSame(sd["p"], sd["q"]);
        Assert.False(sd["p"].requires_grad);
        foreach (var t in sd.Values) t.Dispose();
    }

    [Fact]
    public void NonTensorStateDictIsAnErrorNamingWhatWasFound()
    {
        var p = new PickleBytes().Proto().EmptyDict().Mark()
            .Str("model").EmptyDict().Mark().Str("encoder").EmptyDict().Str("depth").Int(3).SetItems()
            .Str("epoch").Int(1)
            .SetItems().Stop().ToArray();
        var path = PathOf("odd.pth");
        CheckpointFiles.Zip(path, p);
        var ex = Assert.Throws<CheckpointFormatException>(() => TorchCheckpoint.LoadStateDict(path));
        Assert.Contains("odd.pth", ex.Message);
        Assert.Contains("'model'", ex.Message);
        Assert.Contains("'encoder': dict", ex.Message);

        var p2 = new PickleBytes().Proto().EmptyDict().Mark().Str("epoch").Int(1).Str("opt").EmptyDict().SetItems().Stop().ToArray();
        var path2 = PathOf("nosd.pth");
        CheckpointFiles.Zip(path2, p2);
        var ex2 = Assert.Throws<CheckpointFormatException>(() => TorchCheckpoint.LoadStateDict(path2));
        Assert.Contains("'epoch': int", ex2.Message);
        Assert.Contains("'state_dict'", ex2.Message);
    }
}
