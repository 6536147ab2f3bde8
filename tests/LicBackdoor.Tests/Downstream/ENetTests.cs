using LicBackdoor.Downstream;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Downstream;

public sealed class ENetTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-enet-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    internal static string CheckpointPath => Path.Combine(TestPaths.Data, "models", "enet-camvid", "enet-camvid.pth");

    private static List<(string Key, string Shape)> DocumentedKeys() =>
        File.ReadLines(Path.Combine(TestPaths.Data, "models", "enet-camvid", "CHECKPOINT_KEYS.txt"))
            .Where(l => l.StartsWith("  state_dict.", StringComparison.Ordinal))
            .Select(l => l.Trim().Split("  "))
            .Select(p => (p[0]["state_dict.".Length..], p[1]))
            .ToList();

    [Fact]
    public void StateDictHasTheOriginalKeysAndShapes()
    {
        using var net = new ENet();
        var sd = net.state_dict();
        var expected = DocumentedKeys();
        Assert.Equal(632, expected.Count);
        Assert.Equal(expected.Select(e => e.Key).Order(StringComparer.Ordinal), sd.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in expected)
            Assert.Equal(shape, "[" + string.Join(", ", sd[key].shape) + "]");
    }

    [Fact]
    public void RawForwardKeepsTheSizeAndRefusesBadShapes()
    {
        using var net = new ENet();
        net.eval();
        using var scope = NewDisposeScope();
        var y = net.forward(rand(2, 3, 32, 48) * 255);
        Assert.Equal(new long[] { 2, 12, 32, 48 }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
        Assert.Throws<ArgumentException>(() => net.forward(rand(1, 3, 30, 32)));
        Assert.Throws<ArgumentException>(() => net.forward(rand(1, 1, 32, 32)));
        Assert.Throws<ArgumentException>(() => net.Logits(rand(3, 64, 64)));
    }

    [Fact]
    public void LogitsAreDifferentiableAndComeBackAtTheImageSize()
    {
        // 64 x 64 inside instead of 512 x 512 keeps the backward pass fast; the code path is the same.
        using var net = new ENet { ProcessingSize = 64 };
        Assert.Throws<ArgumentOutOfRangeException>(() => new ENet { ProcessingSize = 100 });
        net.eval();
        using var scope = NewDisposeScope();
        var x = rand(1, 3, 21, 34).requires_grad_(true);
        var logits = net.Logits(x);
        Assert.Equal(new long[] { 1, 12, 21, 34 }, logits.shape);
        logits[.., 3].mean().backward();
        Assert.True(x.grad is not null && x.grad.abs().sum().item<float>() > 0);
        var classes = net.Predict(x.detach());
        Assert.Equal(new long[] { 1, 21, 34 }, classes.shape);
        Assert.Equal(ScalarType.Int64, classes.dtype);
        Assert.InRange(classes.min().item<long>(), 0, 11);
        Assert.InRange(classes.max().item<long>(), 0, 11);
    }

    [Fact]
    public void PublishedCheckpointLoadsStrictly()
    {
        using var net = ENet.FromFile(CheckpointPath);
        var sd = net.state_dict();
        Assert.Equal(632, sd.Count);
        var raw = TorchCheckpoint.LoadStateDict(CheckpointPath);
        try
        {
            foreach (var (k, t) in raw) Assert.True(sd[k].to_type(t.dtype).equal(t).all().item<bool>(), k);
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
        Assert.False(net.training);
    }

    [Fact]
    public void SafetensorsRoundTripIntoAFreshNet()
    {
        using var net = ENet.FromFile(CheckpointPath);
        var path = Path.Combine(dir, "enet.safetensors");
        net.Save(path);
        var (tensors, meta) = Safetensors.Load(path);
        Assert.Equal(632, tensors.Count);
        Assert.Equal("enet-camvid", meta["licb.model"]);
        foreach (var t in tensors.Values) t.Dispose();
        using var copy = ENet.FromFile(path);
        var a = net.state_dict();
        var b = copy.state_dict();
        Assert.Equal(a.Keys.Order(StringComparer.Ordinal), b.Keys.Order(StringComparer.Ordinal));
        foreach (var k in a.Keys) Assert.True(a[k].bytes.SequenceEqual(b[k].bytes), k);
        using var scope = NewDisposeScope();
        var x = rand(1, 3, 32, 48) * 255;
        Assert.True(net.forward(x).equal(copy.forward(x)).all().item<bool>());
    }

    [Fact]
    public void MismatchedStateDictsAreRefused()
    {
        using var net = new ENet();
        var good = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        try
        {
            var missing = new Dictionary<string, Tensor>(good);
            missing.Remove("b33.conv21.weight");
            var ex = Assert.Throws<CheckpointFormatException>(() => net.LoadStateDict(missing, "m.pth"));
            Assert.Contains("b33.conv21.weight", ex.Message);

            var extra = new Dictionary<string, Tensor>(good) { ["b99.conv1.weight"] = zeros(1) };
            ex = Assert.Throws<CheckpointFormatException>(() => net.LoadStateDict(extra, "x.pth"));
            Assert.Contains("b99.conv1.weight", ex.Message);

            var alias = new Dictionary<string, Tensor>(good) { ["b22.activation2.weight"] = full(1, 0.9f) };
            ex = Assert.Throws<CheckpointFormatException>(() => net.LoadStateDict(alias, "a.pth"));
            Assert.Contains("b22.activation2.weight", ex.Message);

            var shape = new Dictionary<string, Tensor>(good) { ["fullconv.weight"] = zeros(16, 12, 2, 2) };
            ex = Assert.Throws<CheckpointFormatException>(() => net.LoadStateDict(shape, "s.pth"));
            Assert.Contains("fullconv.weight", ex.Message);
        }
        finally
        {
            foreach (var t in good.Values) t.Dispose();
        }
    }
}
