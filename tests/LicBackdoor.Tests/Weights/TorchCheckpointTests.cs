using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Weights;

/// <summary>Real checkpoints written by PyTorch (CompressAI fixtures in both formats, the ENet checkpoint).</summary>
public sealed class TorchCheckpointTests : TorchTest
{
    private static string EnetPath => Path.Combine(TestPaths.Data, "models", "enet-camvid", "enet-camvid.pth");

    private static void Dispose(Dictionary<string, Tensor> sd)
    {
        foreach (var t in sd.Values) t.Dispose();
    }

    [Theory]
    [InlineData("hyperprior-n32m48")]
    [InlineData("cheng2020-anchor-n32")]
    public void ZipAndLegacyFormatsGiveIdenticalTensors(string name)
    {
        var zip = TorchCheckpoint.LoadStateDict(TestPaths.Fixture(name + ".pth.tar"));
        var legacy = TorchCheckpoint.LoadStateDict(TestPaths.Fixture(name + "-legacy.pth.tar"));
        try
        {
            Assert.Equal(zip.Keys, legacy.Keys); // same order too
            foreach (var (k, a) in zip)
            {
                var b = legacy[k];
                Assert.Equal(a.dtype, b.dtype);
                Assert.Equal(a.shape, b.shape);
                Assert.True(a.bytes.SequenceEqual(b.bytes), k);
            }
            Assert.Equal(new long[] { 32, 1, 3 }, zip["entropy_bottleneck.quantiles"].shape);
            Assert.Equal(ScalarType.Int32, zip["entropy_bottleneck._offset"].dtype);
            Assert.Equal(ScalarType.Int32, zip["gaussian_conditional._quantized_cdf"].dtype);
            Assert.Equal(new long[] { 64 }, zip["gaussian_conditional.scale_table"].shape);
            if (name.StartsWith("hyperprior", StringComparison.Ordinal))
            {
                Assert.Equal(new long[] { 32, 3, 5, 5 }, zip["g_a.0.weight"].shape);
                Assert.Equal(new long[] { 48, 32, 5, 5 }, zip["g_a.6.weight"].shape);
                Assert.Equal(new long[] { 32, 32 }, zip["g_a.1.gamma"].shape);
            }
            else
            {
                Assert.Equal(new long[] { 32, 3, 3, 3 }, zip["g_a.0.conv1.weight"].shape);
                Assert.Equal(new long[] { 64, 32, 5, 5 }, zip["context_prediction.weight"].shape);
                Assert.Equal(new long[] { 64, 32, 5, 5 }, zip["context_prediction.mask"].shape);
            }
            Assert.All(zip.Values, t => Assert.True(t.is_contiguous()));
        }
        finally
        {
            Dispose(zip);
            Dispose(legacy);
        }
    }

    [Fact]
    public void CompressAiStateDictKeepsOrderedDictMetadata()
    {
        var root = TorchCheckpoint.Load(TestPaths.Fixture("hyperprior-n32m48.pth.tar"));
        var d = Assert.IsType<PickleDict>(root);
        try
        {
            Assert.Equal("entropy_bottleneck.quantiles", d.Keys[0]);
            var state = Assert.IsType<PickleDict>(d.State);
            var meta = Assert.IsType<PickleDict>(state["_metadata"]);
            Assert.True(meta.ContainsKey("g_a.0"));
        }
        finally
        {
            foreach (var v in d.Values) (v as Tensor)?.Dispose();
        }
    }

    [Fact]
    public void EnetCheckpointHasTheDocumentedKeysAndShapes()
    {
        var expected = File.ReadLines(Path.Combine(TestPaths.Data, "models", "enet-camvid", "CHECKPOINT_KEYS.txt"))
            .Where(l => l.StartsWith("  state_dict.", StringComparison.Ordinal))
            .Select(l => l.Trim().Split("  "))
            .Select(p => (Key: p[0]["state_dict.".Length..], Shape: p[1], Type: p[2]))
            .ToList();
        Assert.Equal(632, expected.Count);
        var sd = TorchCheckpoint.LoadStateDict(EnetPath);
        try
        {
            Assert.Equal(expected.Select(e => e.Key), sd.Keys);
            foreach (var (key, shape, type) in expected)
            {
                Assert.Equal(shape, "[" + string.Join(", ", sd[key].shape) + "]");
                Assert.Equal(type == "LongStorage" ? ScalarType.Int64 : ScalarType.Float32, sd[key].dtype);
            }
            Assert.Equal(72L, sd["b10.norm1.num_batches_tracked"].item<long>());
            // The four PReLU aliases of a block share one storage: equal values, separate tensors.
            Assert.Equal(sd["b22.activation.weight"].item<float>(), sd["b22.activation3.weight"].item<float>());
            Assert.NotSame(sd["b22.activation.weight"], sd["b22.activation3.weight"]);
            Assert.InRange(sd["initial.activation.weight"][0].item<float>(), 0.2f, 0.23f); // spec A: 0.2148 on image channels
        }
        finally
        {
            Dispose(sd);
        }
    }

    [Fact]
    public void EnetStateDictIsFoundUnderItsKeyAndByExplicitKey()
    {
        var root = Assert.IsType<PickleDict>(TorchCheckpoint.Load(EnetPath));
        Assert.Equal(["state_dict"], root.Keys);
        var inner = Assert.IsType<PickleDict>(root["state_dict"]);
        Assert.Equal(632, inner.Count);
        foreach (var v in inner.Values) ((Tensor)v!).Dispose();
        var sd = TorchCheckpoint.LoadStateDict(EnetPath, "state_dict");
        Assert.Equal(632, sd.Count);
        Dispose(sd);
        var ex = Assert.Throws<CheckpointFormatException>(() => TorchCheckpoint.LoadStateDict(EnetPath, "weights"));
        Assert.Contains("'weights'", ex.Message);
        Assert.Contains("enet-camvid.pth", ex.Message);
    }

    [Fact]
    public void SniffsCheckpoints()
    {
        Assert.True(TorchCheckpoint.IsTorchCheckpoint(EnetPath));
        Assert.True(TorchCheckpoint.IsTorchCheckpoint(TestPaths.Fixture("hyperprior-n32m48.pth.tar")));
        Assert.True(TorchCheckpoint.IsTorchCheckpoint(TestPaths.Fixture("hyperprior-n32m48-legacy.pth.tar")));
        Assert.False(TorchCheckpoint.IsTorchCheckpoint(TestPaths.Fixture("kodim23-center256.png")));
        Assert.False(TorchCheckpoint.IsTorchCheckpoint(TestPaths.Fixture("expected.json")));
        Assert.False(TorchCheckpoint.IsTorchCheckpoint(Path.Combine(TestPaths.Fixtures, "no-such-file.pth")));
    }

    [Fact]
    public void MissingFileIsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => TorchCheckpoint.Load(Path.Combine(TestPaths.Fixtures, "no-such-file.pth")));
    }
}
