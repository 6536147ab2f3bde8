using System.Buffers.Binary;
using LicBackdoor.Weights;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Weights;

public sealed class TfJsWeightsTests : TorchTest
{
    private readonly string dir = Directory.CreateTempSubdirectory("licb-tfjs-").FullName;

    protected override void DisposeTest() => Directory.Delete(dir, recursive: true);

    private string Manifest(string json)
    {
        var path = Path.Combine(dir, "model-weights_manifest.json");
        File.WriteAllText(path, json);
        return path;
    }

    private void Bin(string name, byte[] bytes) => File.WriteAllBytes(Path.Combine(dir, name), bytes);

    private static byte[] Floats(params float[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), v[i]);
        return b;
    }

    private static float[] Values(Tensor t) => t.flatten().data<float>().ToArray();

    /// <summary>A float32 [2,3] tensor, then a uint8-quantised [4] one, split over two shards mid-tensor.</summary>
    private string FloatAndUint8Manifest()
    {
        var bytes = Floats(1, -2, 3.5f, 0, 1e-3f, -7).Concat(new byte[] { 0, 1, 2, 255 }).ToArray();
        Bin("group1-shard1of2.bin", bytes[..10]);
        Bin("group1-shard2of2.bin", bytes[10..]);
        return Manifest("""
            [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
              "weights": [
                {"name": "a/conv/filters", "shape": [2, 3], "dtype": "float32"},
                {"name": "a/scale/weights", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.5}}
              ]}]
            """);
    }

    [Fact]
    public void Float32AndUint8Quantised_AcrossShards()
    {
        var w = TfJsWeights.Load(FloatAndUint8Manifest());
        Assert.Equal(2, w.Count);
        Assert.Equal(new long[] { 2, 3 }, w["a/conv/filters"].shape);
        Assert.Equal(new float[] { 1, -2, 3.5f, 0, 1e-3f, -7 }, Values(w["a/conv/filters"]));
        Assert.Equal(ScalarType.Float32, w["a/scale/weights"].dtype);
        Assert.Equal(new float[] { -1, -0.5f, 0, 126.5f }, Values(w["a/scale/weights"]));
    }

    [Fact]
    public void Uint8DequantisationIsDoubleThenFloat32()
    {
        // min + scale*q computed in double and rounded once to float32, as tfjs does.
        double min = -0.07101876902229645, scale = 0.0005260649557207145;
        Bin("w.bin", [0, 1, 128, 255]);
        var quantization = $"{{\"dtype\": \"uint8\", \"min\": {min:R}, \"scale\": {scale:R}}}";
        var path = Manifest("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2, 2], "dtype": "float32", "quantization": Q}]}]""".Replace("Q", quantization));
        var v = Values(TfJsWeights.Load(path)["k"]);
        Assert.Equal(new[] { (float)min, (float)(scale + min), (float)(128 * scale + min), (float)(255 * scale + min) }, v);
    }

    [Fact]
    public void Uint16Float16Int32AndBool()
    {
        var b = new List<byte>();
        void U16(ushort v) { var s = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(s, v); b.AddRange(s); }
        U16(0); U16(65535);                                              // uint16-quantised float32
        U16(BitConverter.HalfToUInt16Bits((Half)1.5)); U16(BitConverter.HalfToUInt16Bits((Half)(-2))); // float16
        b.AddRange(new byte[] { 7, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF });   // int32 7, -1
        b.AddRange(new byte[] { 0, 3 });                                  // uint8-quantised int32: round(q*0.5 - 1)
        b.AddRange(new byte[] { 1, 0 });                                  // bool
        Bin("w.bin", b.ToArray());
        var path = Manifest("""
            [{"paths": ["w.bin"], "weights": [
              {"name": "u16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "min": 0, "scale": 0.001}},
              {"name": "f16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
              {"name": "i32", "shape": [2], "dtype": "int32"},
              {"name": "qi32", "shape": [2], "dtype": "int32", "quantization": {"dtype": "uint8", "min": -1, "scale": 0.5}},
              {"name": "flag", "shape": [2], "dtype": "bool"}
            ]}]
            """);
        var w = TfJsWeights.Load(path);
        Assert.Equal(new[] { 0f, (float)(65535 * 0.001) }, Values(w["u16"]));
        Assert.Equal(new[] { 1.5f, -2f }, Values(w["f16"]));
        Assert.Equal(new[] { 7, -1 }, w["i32"].data<int>().ToArray());
        Assert.Equal(new[] { -1, 1 }, w["qi32"].data<int>().ToArray()); // -1 + 1.5 = 0.5 rounds up (JS Math.round)
        Assert.Equal(new[] { true, false }, w["flag"].data<bool>().ToArray());
    }

    [Fact]
    public void TruncatedBin_IsRefusedNamingTheShard()
    {
        var path = FloatAndUint8Manifest();
        var shard = Path.Combine(dir, "group1-shard2of2.bin");
        File.WriteAllBytes(shard, File.ReadAllBytes(shard)[..^1]);
        var e = Assert.Throws<CheckpointFormatException>(() => TfJsWeights.Load(path));
        Assert.Contains("group1-shard2of2.bin", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Equal(shard, e.FileName);
    }

    [Fact]
    public void ShapeThatDoesNotMatchTheBytes_IsRefused()
    {
        Bin("w.bin", Floats(1, 2, 3, 4, 5, 6));
        var bigger = Manifest("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2, 4], "dtype": "float32"}]}]""");
        var e = Assert.Throws<CheckpointFormatException>(() => TfJsWeights.Load(bigger));
        Assert.Contains("w.bin", e.Message);
        Assert.Contains("24 bytes", e.Message);
        Assert.Contains("32", e.Message);
        var smaller = Manifest("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [5], "dtype": "float32"}]}]""");
        e = Assert.Throws<CheckpointFormatException>(() => TfJsWeights.Load(smaller));
        Assert.Contains("longer than described", e.Message);
    }

    [Fact]
    public void MissingShard_IsRefusedNamingIt()
    {
        var path = FloatAndUint8Manifest();
        File.Delete(Path.Combine(dir, "group1-shard1of2.bin"));
        var e = Assert.Throws<CheckpointFormatException>(() => TfJsWeights.Load(path));
        Assert.Contains("group1-shard1of2.bin", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Theory]
    [InlineData("""[{"paths": ["../outside.bin"], "weights": []}]""", "outside the manifest's folder")]
    [InlineData("""[{"paths": ["/etc/passwd"], "weights": []}]""", "not a relative file name")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [-1], "dtype": "float32"}]}]""", "invalid shape")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4294967296, 4294967296], "dtype": "float32"}]}]""", "too large")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [1], "dtype": "complex64"}]}]""", "unsupported dtype")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1}}]}]""", "'min'")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [4], "dtype": "float32", "quantization": {"dtype": "int4", "min": 0, "scale": 1}}]}]""", "quantization dtype")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2], "dtype": "float32"}, {"name": "k", "shape": [2], "dtype": "float32"}]}]""", "appears twice")]
    [InlineData("""[{"paths": ["w.bin"], "weights": [{"shape": [4], "dtype": "float32"}]}]""", "without a name")]
    [InlineData("""{"format": "graph-model"}""", "list of weight groups")]
    [InlineData("""[{"paths": ["w.bin"]""", "not JSON")]
    public void HostileManifests_AreRefused(string json, string expected)
    {
        Bin("w.bin", Floats(1, 2, 3, 4));
        var path = Manifest(json);
        var e = Assert.Throws<CheckpointFormatException>(() => TfJsWeights.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains("model-weights_manifest.json", e.Message);
    }

    [Fact]
    public void ModelJsonWrapper_IsAccepted()
    {
        Bin("w.bin", Floats(1, 2));
        var path = Manifest("""{"modelTopology": {}, "weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2], "dtype": "float32"}]}]}""");
        Assert.Equal(new[] { 1f, 2f }, Values(TfJsWeights.Load(path)["k"]));
    }

    [Fact]
    public void HwioToOihw_MovesEveryElement()
    {
        var hwio = arange(2 * 3 * 4 * 5, dtype: ScalarType.Float32).reshape(2, 3, 4, 5);
        var oihw = TfJsWeights.HwioToOihw(hwio);
        Assert.Equal(new long[] { 5, 4, 2, 3 }, oihw.shape);
        var a = hwio.data<float>().ToArray();
        var b = oihw.data<float>().ToArray();
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                for (int i = 0; i < 4; i++)
                    for (int o = 0; o < 5; o++)
                        Assert.Equal(a[((y * 3 + x) * 4 + i) * 5 + o], b[((o * 4 + i) * 2 + y) * 3 + x]);
    }

    [Fact]
    public void HwioToOihw_ConvolvesLikeTf()
    {
        // TF conv: out[o] = sum_{y,x,i} in[y,x,i] * k[y,x,i,o]; one 2x2 window, 3 in, 2 out channels.
        var k = randn(2, 2, 3, 2);
        var img = randn(1, 3, 2, 2);
        var ours = nn.functional.conv2d(img, TfJsWeights.HwioToOihw(k)).flatten();
        var tf = einsum("iyx,yxio->o", img[0], k);
        Assert.True(allclose(ours, tf, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void DepthwiseHwimToOihw_OrdersChannelsAsTf()
    {
        var k = arange(3 * 3 * 2 * 2, dtype: ScalarType.Float32).reshape(3, 3, 2, 2); // in 2, multiplier 2
        var w = TfJsWeights.DepthwiseHwimToOihw(k);
        Assert.Equal(new long[] { 4, 1, 3, 3 }, w.shape);
        for (int i = 0; i < 2; i++)
            for (int m = 0; m < 2; m++)
                Assert.True(w[i * 2 + m, 0].equal(k[.., .., i, m]).all().item<bool>());
    }

    [Fact]
    public void RealFaceRecognitionManifest_MatchesTheSpec()
    {
        var folder = Path.Combine(TestPaths.Data, "models", "face-recognition");
        var manifest = Path.Combine(folder, "face_recognition_model-weights_manifest.json");
        var w = TfJsWeights.Load(manifest);
        Assert.Equal(117, w.Count);
        Assert.Equal(5_614_592L, w.Values.Sum(t => t.numel()));
        Assert.Equal(new long[] { 7, 7, 3, 32 }, w["conv32_down/conv/filters"].shape);
        Assert.Equal(new long[] { 3, 3, 32, 64 }, w["conv64_down/conv1/conv/filters"].shape);
        Assert.Equal(new long[] { 3, 3, 64, 64 }, w["conv64_down/conv2/conv/filters"].shape);
        Assert.Equal(new long[] { 3, 3, 128, 256 }, w["conv256_down/conv1/conv/filters"].shape);
        Assert.Equal(new long[] { 3, 3, 256, 256 }, w["conv256_down_out/conv1/conv/filters"].shape);
        Assert.Equal(new long[] { 256 }, w["conv256_down_out/conv2/scale/biases"].shape);
        Assert.Equal(new long[] { 256, 128 }, w["fc"].shape);
        Assert.All(w.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
        Assert.All(w.Values, t => Assert.True(t.isfinite().all().item<bool>()));
        // conv32_down/scale/weights is uint8-quantised with min 5.7887, scale 0.068144: values in [min, min + 255 scale].
        var s = w["conv32_down/scale/weights"];
        Assert.True(s.min().item<float>() >= 5.78867f && s.max().item<float>() <= 5.78868f + 255 * 0.0681442f);
        Assert.Equal(6_444_032L, new FileInfo(Path.Combine(folder, "face_recognition_model.bin")).Length);
    }
}
