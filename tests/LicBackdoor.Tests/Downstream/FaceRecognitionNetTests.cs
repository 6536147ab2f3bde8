using LicBackdoor.Downstream;
using LicBackdoor.Imaging;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Downstream;

/// <summary>The real face net, loaded once for the tests that need it.</summary>
public sealed class FaceNetFixture : IDisposable
{
    public FaceNetFixture()
    {
        Runtime.NativeSetup.Initialize();
        Net = FaceRecognitionNet.Load(ManifestPath);
    }

    public static string ManifestPath => Path.Combine(TestPaths.Data, "models", "face-recognition", FaceRecognitionNet.ManifestFileName);

    public static string Crop(string file) => Path.Combine(TestPaths.Data, "faces", file);

    public FaceRecognitionNet Net { get; }

    public void Dispose() => Net.Dispose();
}

public sealed class FaceRecognitionNetTests : TorchTest, IClassFixture<FaceNetFixture>
{
    private readonly FaceRecognitionNet net;

    public FaceRecognitionNetTests(FaceNetFixture fixture) => net = fixture.Net;

    private static float[] Values(Tensor t) => t.flatten().data<float>().ToArray();

    [Fact]
    public void RandomWeights_GiveOneDescriptorPerImageOfAnySize()
    {
        using var random = new FaceRecognitionNet();
        using var _ = no_grad();
        Assert.Equal(117, random.state_dict().Count);
        Assert.All(random.parameters(), p => Assert.False(p.requires_grad));
        var d = random.Descriptors(rand(2, 3, 150, 150));
        Assert.Equal(new long[] { 2, FaceRecognitionNet.DescriptorSize }, d.shape);
        Assert.Equal(new long[] { 1, 128 }, random.Descriptors(rand(1, 3, 97, 130)).shape);
        Assert.Equal(new long[] { 1, 128 }, random.Descriptors(rand(1, 3, 300, 40)).shape);
        Assert.True(d.isfinite().all().item<bool>());
        Assert.Throws<ArgumentException>(() => random.Descriptors(rand(1, 1, 150, 150)));
        Assert.Throws<ArgumentException>(() => random.forward(rand(1, 3, 149, 149)));
    }

    [Fact]
    public void RealWeights_UseEveryTensorExactlyOnce()
    {
        var tf = TfJsWeights.Load(FaceNetFixture.ManifestPath);
        var ours = net.state_dict();
        // Strict loading already refuses missing or unexpected keys; check the one-to-one mapping explicitly.
        Assert.Equal(tf.Count, ours.Count);
        Assert.Equal(tf.Keys.Select(k => k.Replace('/', '.')).Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in tf)
        {
            var expected = name.EndsWith("/conv/filters", StringComparison.Ordinal) ? t.permute(3, 2, 0, 1) : t;
            Assert.True(ours[name.Replace('/', '.')].equal(expected).all().item<bool>(), name);
        }
    }

    [Fact]
    public void WeightsThatDoNotFit_AreRefusedWithTheKeys()
    {
        var dir = Directory.CreateTempSubdirectory("licb-facenet-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "w.bin"), new byte[256 * 129 * 4]);
            var manifest = Path.Combine(dir, "x-weights_manifest.json");
            File.WriteAllText(manifest, """[{"paths": ["w.bin"], "weights": [{"name": "fc", "shape": [256, 129], "dtype": "float32"}]}]""");
            var e = Assert.Throws<CheckpointFormatException>(() => FaceRecognitionNet.Load(dir));
            Assert.Contains("x-weights_manifest.json", e.Message);
            Assert.Contains("116 missing keys (conv32_down.conv.filters", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LegacyBilinearResize_MatchesHandComputedValues()
    {
        // 2x3 -> 3x2. Columns: scale 3/2, x = 0 -> 0, x = 1 -> 1.5 (between 1 and 2, weight .5).
        // Rows: scale 2/3, y = 0 -> 0, y = 1 -> 0.667 (rows 0 and 1), y = 2 -> 1.333 (row 1 and row min(2, 1) = 1).
        var x = tensor(new float[] { 0, 10, 20, 30, 40, 50 }, [1, 1, 2, 3]);
        var y = FaceRecognitionNet.ResizeBilinearLegacy(x, 3, 2);
        var expected = new[] { 0f, 15f, 30 * (2f / 3), 15 + 30 * (2f / 3), 30f, 45f };
        var got = Values(y);
        Assert.Equal(6, got.Length);
        for (int i = 0; i < 6; i++) Assert.Equal(expected[i], got[i], 4);
        // PyTorch's half-pixel mapping gives different values (the trap in the spec).
        var torchStyle = nn.functional.interpolate(x, [3, 2], mode: InterpolationMode.Bilinear, align_corners: false);
        Assert.False(allclose(torchStyle, y, atol: 1e-3));

        // Down-sampling 1x5 -> 1x2: x = 1 samples 2.5 (between 20 and 30).
        var row = tensor(new float[] { 0, 10, 20, 30, 40 }, [1, 1, 1, 5]);
        Assert.Equal(new[] { 0f, 25f }, Values(FaceRecognitionNet.ResizeBilinearLegacy(row, 1, 2)));
        // Same size is the identity.
        var img = rand(1, 3, 5, 7);
        Assert.True(FaceRecognitionNet.ResizeBilinearLegacy(img, 5, 7).equal(img).all().item<bool>());
    }

    [Fact]
    public void LegacyBilinearResize_AgreesWithAScalarReferenceAndHasExactGradients()
    {
        var x = randn(1, 2, 7, 5, dtype: ScalarType.Float64);
        var y = FaceRecognitionNet.ResizeBilinearLegacy(x, 4, 9);
        var xa = x.data<double>().ToArray();
        var ya = y.data<double>().ToArray();
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 9; j++)
                {
                    float sy = i * (7f / 4), sx = j * (5f / 9);
                    int y0 = (int)MathF.Floor(sy), x0 = (int)MathF.Floor(sx);
                    int y1 = Math.Min(y0 + 1, 6), x1 = Math.Min(x0 + 1, 4);
                    double fy = sy - y0, fx = sx - x0;
                    double P(int r, int q) => xa[(c * 7 + r) * 5 + q];
                    double top = P(y0, x0) + (P(y0, x1) - P(y0, x0)) * fx, bottom = P(y1, x0) + (P(y1, x1) - P(y1, x0)) * fx;
                    Assert.Equal(top + (bottom - top) * fy, ya[(c * 4 + i) * 9 + j], 9);
                }
        // The op is linear: the gradient of sum(w * resize(x)) is resize's transpose applied to w.
        var xg = x.clone().requires_grad_(true);
        var w = randn(1, 2, 4, 9, dtype: ScalarType.Float64);
        (FaceRecognitionNet.ResizeBilinearLegacy(xg, 4, 9) * w).sum().backward();
        var probe = zeros_like(x);
        probe[0, 1, 3, 2] = 1.0;
        double viaForward = (FaceRecognitionNet.ResizeBilinearLegacy(probe, 4, 9) * w).sum().item<double>();
        Assert.Equal(viaForward, xg.grad![0, 1, 3, 2].item<double>(), 10);
    }

    [Fact]
    public void PadToSquare_PutsTheLargerHalfAfter()
    {
        var x = ones(1, 1, 2, 5);
        var p = FaceRecognitionNet.PadToSquare(x);
        Assert.Equal(new long[] { 1, 1, 5, 5 }, p.shape);
        // diff 3: round(1.5) = 2 rows at the bottom, 1 at the top.
        Assert.Equal(new[] { 0f, 1f, 1f, 0f, 0f }, Values(p[0, 0, .., 0]));
        var tall = FaceRecognitionNet.PadToSquare(ones(1, 1, 4, 2));
        Assert.Equal(new[] { 0f, 1f, 1f, 0f }, Values(tall[0, 0, 0, ..]));
    }

    [Fact]
    public void ShortcutFixUp_AppendsOneZeroRowAndColumn()
    {
        var y = tensor(new float[] { 5, -3, 2, 7 }, [1, 1, 2, 2]);
        var pooled = zeros(1, 1, 3, 3);
        var fixedUp = FaceRecognitionNet.ShortcutFixUp(y, pooled);
        Assert.Equal(new long[] { 1, 1, 3, 3 }, fixedUp.shape);
        Assert.Equal(new[] { 5f, -3f, 0f, 2f, 7f, 0f, 0f, 0f, 0f }, Values(fixedUp));
        // Equal sizes: untouched. 1x1 against 2x2 (conv256_down_out): one row and one column.
        Assert.Same(y, FaceRecognitionNet.ShortcutFixUp(y, zeros(1, 1, 2, 2)));
        Assert.Equal(new[] { 4f, 0f, 0f, 0f }, Values(FaceRecognitionNet.ShortcutFixUp(full(1, 1, 1, 1, 4f), zeros(1, 1, 2, 2))));
        // Only one row and one column are ever added.
        Assert.Throws<InvalidOperationException>(() => FaceRecognitionNet.ShortcutFixUp(y, zeros(1, 1, 4, 4)));
    }

    [Fact]
    public void RealCrops_SameCropIdentical_SamePersonClose_DifferentPeopleFar()
    {
        using var _ = no_grad();
        var a = ImageFile.Load(FaceNetFixture.Crop("img6.png"));    // id00
        var b = ImageFile.Load(FaceNetFixture.Crop("img7.png"));    // id00
        var c = ImageFile.Load(FaceNetFixture.Crop("img25.png"));   // id08
        var d = net.Descriptors(cat([a, b, c], 0));
        Assert.Equal(new long[] { 3, 128 }, d.shape);
        Assert.True(net.Descriptors(a).equal(net.Descriptors(a)).all().item<bool>());
        Assert.Equal(0.0, FaceRecognitionNet.Distance(net.Descriptors(a), d[0]), 5);
        double same = FaceRecognitionNet.Distance(d[0], d[1]);
        double different = FaceRecognitionNet.Distance(d[0], d[2]);
        Assert.InRange(same, 0.0, 0.4);
        Assert.InRange(different, 0.8, 2.0);
        Assert.True(same < FaceRecognitionNet.DefaultThreshold && different > FaceRecognitionNet.DefaultThreshold);
        Assert.Equal(FaceRecognitionNet.PairDistances(d[..1], d[1..2]).item<float>(), same, 5);
    }

    [Fact]
    public void Gradients_FlowFromTheDescriptorToTheImage()
    {
        var x = ImageFile.Load(FaceNetFixture.Crop("img6.png")).requires_grad_(true);
        var target = net.Descriptors(ImageFile.Load(FaceNetFixture.Crop("img25.png"))).detach();
        var loss = FaceRecognitionNet.PairDistances(net.Descriptors(x), target).sum();
        loss.backward();
        var g = x.grad;
        Assert.NotNull(g);
        Assert.Equal(x.shape, g!.shape);
        Assert.True(g.isfinite().all().item<bool>());
        // Through the 256 -> 150 resize the gradient reaches input rows and columns 0..250 and no others: the
        // 3x3/2 max-pool reads conv32_down outputs 0..70, which read resized rows 0..146, and resized row 146
        // samples 146 * 256/150 = 249.2 (rows 249 and 250).
        var rows = g.abs().sum([0L, 1L, 3L]) > 0;
        var cols = g.abs().sum([0L, 1L, 2L]) > 0;
        var reached = arange(256) <= 250;
        Assert.True(rows.equal(reached).all().item<bool>());
        Assert.True(cols.equal(reached).all().item<bool>());
        // A small step against the gradient moves the descriptor towards the target.
        using var _ = no_grad();
        var stepped = (x - 1e-3f * g.sign()).clamp(0, 1);
        var after = FaceRecognitionNet.PairDistances(net.Descriptors(stepped), target).sum().item<float>();
        Assert.True(after < loss.item<float>(), $"{after} !< {loss.item<float>()}");
    }
}
